//! Test support: a fresh, empty store for each test, in its own schema of
//! the server named by `NOCTURNE_TEST_POSTGRES` (so tests run in
//! parallel). Tests skip, saying so, when the variable is not set.

use nocturne_store::{Result, StoreError};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming the test server (`postgres://user@127.0.0.1:PORT/db`).
pub const ENV: &str = "NOCTURNE_TEST_POSTGRES";

/// The test server's address, or `None` (after printing a notice) when
/// there is none.
pub fn server(test: &str) -> Option<String> {
    match std::env::var(ENV) {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            eprintln!("{test}: skipped: {ENV} is not set (tests/postgres/start.sh starts a server and sets it)");
            None
        }
    }
}

/// Creates a new empty schema on the server at `base` and returns an
/// address whose connections use it.
pub fn fresh_url(base: &str, prefix: &str) -> Result<String> {
    static N: AtomicU64 = AtomicU64::new(0);
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let name = format!(
        "t_{}_{}_{}_{}",
        prefix.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(20).collect::<String>(),
        std::process::id(),
        stamp % 1_000_000_000_000,
        N.fetch_add(1, Ordering::SeqCst)
    )
    .to_lowercase();
    let config = postgres::Config::from_str(base).map_err(|e| StoreError::Backend(e.to_string()))?;
    let mut c = config.connect(postgres::NoTls).map_err(|e| StoreError::Backend(crate::message(&e)))?;
    c.batch_execute(&format!("CREATE SCHEMA {name}")).map_err(|e| StoreError::Backend(crate::message(&e)))?;
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{sep}options=-csearch_path%3D{name}"))
}
