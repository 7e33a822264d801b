//! Connectors: what a connector is and how it is managed.
//!
//! - [`config`]: a connector's config (a file in `connectors_dir` or a REST body) and its
//!   worker keys (`ConnectorKeys`);
//! - [`secrets`]: `${env:}` and `${file:}` references, resolved when a connector starts;
//! - [`validate`]: the check of a config against its plugin's schema, before any task opens;
//! - [`control`]: Kafka Connect's REST verbs over the running worker.

pub mod config;
pub mod control;
pub mod secrets;
pub mod validate;
