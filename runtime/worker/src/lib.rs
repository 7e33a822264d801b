//! The connectd worker: runs connectors (a plugin plus its config) as tasks.
//!
//! - Plugins are `plugin_dir/<name>.wasm` components, loaded through [`connectd_host`].
//! - Connectors are `connectors_dir/<name>.toml` files or REST-created configs
//!   ([`connectors`]).
//! - Source tasks poll their plugin and produce into topics through a [`backend::TopicBackend`];
//!   sink tasks read topics as a consumer group ([`tasks`]). Source offsets live in
//!   `connectd-offsets`, status in `connectd-status`, REST-created configs in
//!   `connectd-configs` ([`state`]).
//! - Capabilities come from the connector's own config schema: a property marked
//!   `"x-connectd-grant": "read-parent"` grants read-only access to the directory holding the
//!   path in that key (`"write-parent"`: read-write), at the same path, and nothing else;
//!   `"sql-url"` lets it open the database at the URL in that key (the host's `sql`);
//!   `"store-url"` the object store location in that key (the host's `object-store`).
//!
//! The crate root is a facade. The rooms: [`connectors`] (config, validation, REST verbs),
//! `tasks` (source, sink, transforms, retries), [`state`] (offsets, status, the config topic),
//! `scale_out` (membership in a group of workers), and the supervisor, which keeps what runs
//! in line with the folders, the config topic and the group's assignment. ARCHITECTURE.md at
//! the repository root maps the threads and the walks of a record and a config.

pub mod backend;
mod clock;
pub mod connectors;
mod error;
mod grants;
pub mod metrics;
mod paths;
mod scale_out;
pub mod state;
mod supervisor;
mod tasks;
mod worker;

pub use connectors::secrets::ConfigProviders;
pub use error::{Error, Result};
pub use scale_out::ClusterSettings;
pub use state::internal_topics::InternalTopics;
pub use worker::{Worker, WorkerSettings};
