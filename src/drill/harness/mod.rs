//! Disposable local PostgreSQL clusters, for the drill and for the tests (a dev-dependency of
//! the other crates): finding the server binaries ([`bindir`]), `initdb`/`pg_ctl` on loopback
//! as the `postgres` user when running as root ([`cluster`], [`process`]), and a source/target
//! pair replicating logically ([`pair`]). A watchdog stops each server even when the process
//! that started it is SIGKILLed.

pub mod bindir;
pub mod cluster;
pub mod pair;
pub mod process;

pub use bindir::{BinDirNotFound, PgBin};
pub use cluster::{Cluster, ClusterError, ClusterOptions};
pub use pair::Pair;
