//! The I/O runtime handed to every host in the tests, as the binary hands its own.

/// A handle to the tests' one I/O runtime (two workers, started on first use).
pub fn io() -> tokio::runtime::Handle {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("building the tests' I/O runtime")
        })
        .handle()
        .clone()
}
