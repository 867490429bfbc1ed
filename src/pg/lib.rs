//! `cutover-pg`: connecting to the runbook's PostgreSQL servers.
//!
//! A `[connections.NAME]` DSN (libpq conninfo or `postgres://` URL) is resolved once into
//! [`ConnSettings`] — `PG*` environment variables, `~/.pgpass`, `sslmode` and the other TLS
//! settings honoured as libpq does ([`conninfo`], [`pgpass`], [`tls`]) — and connected with
//! [`ConnSettings::connect`], which classifies failures ([`FailureKind`]) and never shows a
//! password. Identifiers and literals are quoted with `cutover_model::ident`: no user value is pasted into SQL.
//!
//! Production code only: the disposable clusters of the drill and the tests live in
//! `cutover-drill`.

pub mod conn;
pub mod conninfo;
mod env;
pub mod pgpass;
pub mod tls;

pub use conn::{ConnError, ConnSettings, ConnectError, FailureKind};
/// The client a [`ConnSettings`] connects (tokio-postgres's), for crates that hold one.
pub use tokio_postgres::Client;
