//! Which backend a store address names, and opening it. This is the only
//! crate that knows the backends; the service sees a [`Store`].
//!
//! - `postgres://…` or `postgresql://…`: PostgreSQL (feature `postgres`),
//!   shared by many servers and workers;
//! - anything else: the path of a SQLite file, created on first use.

use nocturne_store::{Store, StoreError};
use std::path::Path;
use std::sync::Arc;

/// The backend an address names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(address: &str) -> Backend {
        let a = address.trim_start();
        if a.starts_with("postgres://") || a.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Opens the store at `address`, creating it (and bringing its schema up
/// to date) on first use.
pub fn open(address: &str) -> Result<Arc<dyn Store>, StoreError> {
    match Backend::of(address) {
        Backend::Sqlite => Ok(Arc::new(nocturne_store_sqlite::SqliteStore::open(Path::new(address))?)),
        Backend::Postgres => open_postgres(address),
    }
}

/// Opens the SQLite store at `path` (a path is never read as a URL).
pub fn open_path(path: &Path) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(nocturne_store_sqlite::SqliteStore::open(path)?))
}

#[cfg(feature = "postgres")]
fn open_postgres(address: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(nocturne_store_postgres::PgStore::open(address)?))
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(_address: &str) -> Result<Arc<dyn Store>, StoreError> {
    Err(StoreError::Unsupported(
        "this build of Nocturne has no PostgreSQL backend (build it with the `postgres` feature)".into(),
    ))
}

/// Whether this build opens PostgreSQL addresses.
pub fn has_postgres() -> bool {
    cfg!(feature = "postgres")
}

/// An address as it may be shown: a URL without its password.
pub fn display(address: &str) -> String {
    if Backend::of(address) != Backend::Postgres {
        return address.to_string();
    }
    let Some((scheme, rest)) = address.split_once("://") else {
        return address.to_string();
    };
    match rest.rsplit_once('@') {
        Some((cred, host)) => match cred.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => address.to_string(),
        },
        None => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_their_backend() {
        assert_eq!(Backend::of("postgres://ana@db/nocturne"), Backend::Postgres);
        assert_eq!(Backend::of("postgresql://db/nocturne"), Backend::Postgres);
        assert_eq!(Backend::of(".nocturne/store.db"), Backend::Sqlite);
        assert_eq!(Backend::of("/srv/postgres/store.db"), Backend::Sqlite);
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(display("postgres://ana:s3cret@db:5432/n"), "postgres://ana:***@db:5432/n");
        assert_eq!(display("postgres://ana@db/n"), "postgres://ana@db/n");
        assert_eq!(display("store.db"), "store.db");
    }

    #[test]
    fn a_path_opens_sqlite() {
        let dir = std::env::temp_dir().join(format!("nocturne-stores-{}", std::process::id()));
        let s = open(&dir.join("s.db").display().to_string()).unwrap();
        assert_eq!(s.head().unwrap(), 0);
        let _ = std::fs::remove_dir_all(dir);
    }
}
