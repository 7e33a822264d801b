//! Files a sink appends to through the host (the `files` WIT interface).
//!
//! In a component, `Appender` calls the host, which writes on the task's own thread with one
//! system call per `append`, inside the directories the connector's config grants
//! read-write. Compiled natively (a connector built into the worker), it is a plain file
//! opened for appending.

/// A file opened for appending.
pub struct Appender {
    #[cfg(target_arch = "wasm32")]
    inner: crate::__private::sink::connectd::connector::files::Appender,
    #[cfg(not(target_arch = "wasm32"))]
    inner: std::fs::File,
}

impl Appender {
    /// Opens `path` for appending, creating it if missing. In a component, `path` must lie
    /// directly inside a directory the config grants read-write (`x-connectd-grant:
    /// write-parent` on the key that names it).
    pub fn open(path: &str) -> Result<Self, String> {
        #[cfg(target_arch = "wasm32")]
        let inner = crate::__private::sink::connectd::connector::files::Appender::open(path)?;
        #[cfg(not(target_arch = "wasm32"))]
        let inner = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| e.to_string())?;
        Ok(Appender { inner })
    }

    /// Appends `data` in one write, so appends from other tasks to the same file never split
    /// it.
    pub fn append(&mut self, data: &[u8]) -> Result<(), String> {
        #[cfg(target_arch = "wasm32")]
        return self.inner.append(data);
        #[cfg(not(target_arch = "wasm32"))]
        return std::io::Write::write_all(&mut self.inner, data).map_err(|e| e.to_string());
    }

    /// Makes everything appended so far durable.
    pub fn sync(&mut self) -> Result<(), String> {
        #[cfg(target_arch = "wasm32")]
        return self.inner.sync();
        #[cfg(not(target_arch = "wasm32"))]
        return self.inner.sync_data().map_err(|e| e.to_string());
    }
}
