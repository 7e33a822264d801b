//! The host's tests against real components (built from the connector crates for
//! wasm32-wasip2), in one binary so wasmtime is linked once.

#[path = "../../../../tests/all/connectors.rs"]
mod support;

mod capabilities;
mod file_source;
mod misbehaving;

/// The I/O runtime handed to every host, as the binary hands its own.
fn io() -> tokio::runtime::Handle {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("building the I/O runtime")
        })
        .handle()
        .clone()
}
