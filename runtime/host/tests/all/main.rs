//! The host's tests against real components (built from the connector crates for
//! wasm32-wasip2), in one binary so wasmtime is linked once.

#[path = "../../../../tests/all/connectors.rs"]
mod support;

mod capabilities;
mod file_source;
mod misbehaving;

mod io;
use io::io;
