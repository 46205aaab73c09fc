//! A small blocking connection pool: at most `max` connections, made when
//! needed, lent to one caller at a time and taken back when the caller is
//! done (unless the connection broke). Callers wait for a free connection.

use nocturne_store::StoreError;
use postgres::{Client, Config, NoTls};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

pub(crate) struct Pool {
    config: Config,
    max: usize,
    state: Mutex<State>,
    freed: Condvar,
}

struct State {
    idle: Vec<Client>,
    open: usize,
}

fn poisoned() -> StoreError {
    StoreError::Backend("the connection pool lock is poisoned".into())
}

impl Pool {
    pub(crate) fn new(config: Config, max: usize) -> Pool {
        Pool { config, max: max.max(1), state: Mutex::new(State { idle: Vec::new(), open: 0 }), freed: Condvar::new() }
    }

    /// Runs `f` with a connection of the pool.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Client) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut c = self.take()?;
        let out = f(&mut c);
        self.give(c);
        out
    }

    fn take(&self) -> Result<Client, StoreError> {
        let mut st = self.state.lock().map_err(|_| poisoned())?;
        loop {
            if let Some(c) = st.idle.pop() {
                if c.is_closed() {
                    st.open = st.open.saturating_sub(1);
                    continue;
                }
                return Ok(c);
            }
            if st.open < self.max {
                st.open += 1;
                drop(st);
                return match self.config.connect(NoTls) {
                    Ok(c) => Ok(c),
                    Err(e) => {
                        if let Ok(mut st) = self.state.lock() {
                            st.open = st.open.saturating_sub(1);
                        }
                        self.freed.notify_one();
                        Err(StoreError::Backend(format!("cannot connect to PostgreSQL: {}", crate::message(&e))))
                    }
                };
            }
            let (next, _) = self.freed.wait_timeout(st, Duration::from_secs(1)).map_err(|_| poisoned())?;
            st = next;
        }
    }

    fn give(&self, c: Client) {
        // Dropping a client blocks on its connection: never on an async
        // thread (see `Drop for Pool`); callers lend from blocking threads.
        if let Ok(mut st) = self.state.lock() {
            if c.is_closed() {
                st.open = st.open.saturating_sub(1);
            } else {
                st.idle.push(c);
            }
        }
        self.freed.notify_one();
    }
}

impl Drop for Pool {
    /// The `postgres` client closes its connection by blocking on it, which
    /// an async runtime's thread must not do: the idle connections are
    /// closed on a thread of their own.
    fn drop(&mut self) {
        let idle = match self.state.get_mut() {
            Ok(st) => std::mem::take(&mut st.idle),
            Err(p) => std::mem::take(&mut p.into_inner().idle),
        };
        if idle.is_empty() {
            return;
        }
        if let Ok(t) = std::thread::Builder::new().name("nocturne-pg-close".into()).spawn(move || drop(idle)) {
            let _ = t.join();
        }
    }
}
