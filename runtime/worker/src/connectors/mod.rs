//! Connectors: what a connector is and how it is managed.
//!
//! - [`config`]: a connector's config (a file in `connectors_dir` or a REST body), its
//!   worker keys (`ConnectorKeys`), secrets resolved from `${env:}` and `${file:}`;
//! - [`validate`]: the check of a config against its plugin's schema, before any task opens;
//! - [`control`]: Kafka Connect's REST verbs over the running worker.

pub mod config;
pub mod control;
pub mod validate;
