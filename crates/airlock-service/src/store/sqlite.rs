//! The SQLite store.

/// The default store: one SQLite file in the data dir.
#[derive(Debug)]
pub struct SqliteStore;
