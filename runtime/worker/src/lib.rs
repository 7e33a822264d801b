//! The connectd worker: runs connectors (a plugin plus its config) as tasks.
//!
//! - Plugins are `plugin_dir/<name>.wasm` components, loaded through [`connectd_host`].
//! - Connectors are `connectors_dir/<name>.toml` files ([`connector`]).
//! - Source tasks poll their plugin and produce into topics through a [`backend::TopicBackend`];
//!   source offsets live in `connectd-offsets` ([`offsets`]), status in `connectd-status`
//!   ([`status`]).
//! - Capabilities come from the connector's own config schema: a property marked
//!   `"x-connectd-grant": "read-parent"` grants read-only access to the directory holding the
//!   path in that key (`"write-parent"`: read-write), at the same path, and nothing else;
//!   `"sql-url"` lets it open the database at the URL in that key (the host's `sql`);
//!   `"store-url"` the object store location in that key (the host's `object-store`).

//!
//! The crate root is a facade: each job lives in a module of its own, and ARCHITECTURE.md at
//! the repository root maps the threads and the walks of a record and a config.

pub mod backend;
mod clock;
mod cluster;
pub mod configs;
pub mod connector;
pub mod control;
mod error;
mod grants;
mod internal_topics;
pub mod metrics;
pub mod offsets;
mod retry_with_tolerance;
mod sink;
mod source;
pub mod status;
mod supervisor;
mod task;
mod transforms;
pub mod validate;
mod worker;

pub use cluster::ClusterSettings;
pub use error::{Error, Result};
pub use internal_topics::InternalTopics;
pub use worker::{Worker, WorkerSettings};
