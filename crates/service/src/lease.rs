//! Leases that a crash cannot keep: short, renewed by a thread while the
//! work runs, released when it ends, and taken over at once from a holder
//! on this machine whose process is gone (see [`crate::ids`]).

use crate::ids::{holder_is_gone, Process};
use crate::{Result, Service};
use nocturne_store::{Claim, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// How long a named lock (the dream lock) is leased for at a time; the
/// holder renews it every third of that while it works.
pub(crate) const LOCK_LEASE: Duration = Duration::from_secs(60);

/// `now + d`, as RFC 3339 (or `now` if `now` is not a time).
pub(crate) fn later(now: &str, d: Duration) -> String {
    OffsetDateTime::parse(now, &Rfc3339)
        .ok()
        .map(|t| t + d)
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| now.to_string())
}

/// A renewer thread: calls `renew` every `every` until stopped, and marks
/// `lost` when a renewal fails.
struct Renewer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    lost: Arc<AtomicBool>,
}

impl Renewer {
    fn start(every: Duration, renew: impl Fn() -> bool + Send + 'static) -> Renewer {
        let (tx, rx) = mpsc::channel::<()>();
        let lost = Arc::new(AtomicBool::new(false));
        let flag = lost.clone();
        let thread = std::thread::Builder::new()
            .name("nocturne-lease".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                    if !renew() {
                        flag.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            })
            .ok();
        Renewer { stop: Some(tx), thread, lost }
    }

    fn stop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A held named lock; renewed while it lives, released on drop.
pub(crate) struct HeldLock {
    store: Arc<dyn Store>,
    name: String,
    holder: String,
    renewer: Renewer,
}

impl HeldLock {
    /// Whether a renewal failed (another holder took the lock over).
    #[allow(dead_code)]
    pub(crate) fn lost(&self) -> bool {
        self.renewer.lost.load(Ordering::SeqCst)
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        self.renewer.stop();
        let _ = self.store.unlock(&self.name, &self.holder);
    }
}

impl Service {
    /// Takes the named lock for this request, taking it over from a holder
    /// whose process is gone; `None` when a live holder has it.
    pub(crate) fn acquire_lock(&self, name: &str, lease: Duration) -> Result<Option<HeldLock>> {
        let holder = Process::current().holder("lease")?;
        let now = self.now();
        let until = later(&now, lease);
        let mut held = self.store.try_lock(name, &holder, &now, &until)?;
        if !held {
            if let Some(cur) = self.store.lock_holder(name)? {
                if holder_is_gone(&cur.holder) {
                    held = self.store.take_over_lock(name, &cur.holder, &holder, &until)?;
                }
            }
        }
        if !held {
            return Ok(None);
        }
        let (store, clock, n, h) = (self.store.clone(), self.clock.clone(), name.to_string(), holder.clone());
        let renewer = Renewer::start(lease / 3, move || {
            let now = clock();
            // A failed round trip is tried again next time; only a refusal ends it.
            store.try_lock(&n, &h, &now, &later(&now, lease)).unwrap_or(true)
        });
        Ok(Some(HeldLock { store: self.store.clone(), name: name.to_string(), holder, renewer }))
    }

    /// Renews a job's lease every third of `lease` while `work` runs.
    /// Returns what `work` returned and whether the claim was lost meanwhile.
    pub(crate) fn while_leased<T>(
        &self,
        job: &str,
        claim: &Claim,
        lease: Duration,
        work: impl FnOnce() -> T,
    ) -> (T, bool) {
        let (store, clock, id, c) = (self.store.clone(), self.clock.clone(), job.to_string(), claim.clone());
        let mut renewer = Renewer::start(lease / 3, move || {
            let now = clock();
            store.renew_job(&id, &c, &later(&now, lease)).unwrap_or(true)
        });
        let out = work();
        renewer.stop();
        let lost = renewer.lost.load(Ordering::SeqCst);
        (out, lost)
    }
}
