//! The worker's state, all of it in internal compacted topics, so a restart (or another worker
//! of the group) picks it up:
//!
//! - [`offsets`]: source positions and the counts that make sources exactly-once;
//! - [`status`]: connector and task states;
//! - [`configs`]: REST-created connectors and every connector's target state;
//! - [`internal_topics`]: their names.

pub mod configs;
pub mod internal_topics;
pub mod offsets;
pub mod status;
