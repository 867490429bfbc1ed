//! PostgreSQL: connection settings and connecting ([`conn`]), and disposable local clusters
//! for tests and `cutover drill` ([`cluster`], [`pair`], [`bindir`]).

pub mod bindir;
pub mod cluster;
pub mod conn;
pub mod conninfo;
pub mod ident;
pub mod pair;
pub mod pgpass;
pub mod process;
pub mod tls;

pub use bindir::{BinDirNotFound, PgBin};
pub use cluster::{Cluster, ClusterError, ClusterOptions};
pub use conn::{ConnError, ConnSettings, ConnectError, FailureKind};
pub use pair::Pair;
