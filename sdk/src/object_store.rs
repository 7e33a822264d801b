//! Objects in the store location a sink's config grants (the `object-store` WIT interface):
//! a local folder, S3 or an S3-compatible server, HDFS, GCS or Azure.
//!
//! In a component every call goes to the host, which does the I/O with the `object_store`
//! crate and confines paths to the granted location. Compiled natively (a connector built into
//! the worker, to measure what the sandbox costs), only local folders work: plain files, written
//! to a hidden temporary file and renamed into place like the host's.

use crate::ConnectorError;

/// What went wrong with a store call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The store cannot be reached: retry later.
    Unreachable(String),
    /// The store refused the credentials or the access.
    Denied(String),
    /// The bucket (container, folder) does not exist.
    NoBucket(String),
    /// The object does not exist.
    NotFound(String),
    /// The location is not granted, or the URL, an option or a path is wrong.
    Invalid(String),
    /// Anything else the store answered.
    Other(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unreachable(m) => write!(f, "the store is unreachable: {m}"),
            StoreError::Denied(m) => write!(f, "the store refused the credentials or access: {m}"),
            StoreError::NoBucket(m) => write!(f, "the bucket does not exist: {m}"),
            StoreError::NotFound(m) => write!(f, "no such object: {m}"),
            StoreError::Invalid(m) | StoreError::Other(m) => f.write_str(m),
        }
    }
}

impl From<StoreError> for ConnectorError {
    /// Unreachable and other store answers are worth retrying; refused credentials, a missing
    /// bucket and a wrong location are config the user must fix.
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::Unreachable(_) | StoreError::Other(_) | StoreError::NotFound(_) => {
                ConnectorError::Retryable(e.to_string())
            }
            StoreError::Denied(_) | StoreError::NoBucket(_) | StoreError::Invalid(_) => {
                ConnectorError::InvalidConfig(e.to_string())
            }
        }
    }
}

/// One object as [`Bucket::list`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Relative to the granted location.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
}

#[cfg(target_arch = "wasm32")]
use crate::__private::sink::connectd::connector::object_store as wit;

#[cfg(target_arch = "wasm32")]
fn error(e: wit::StoreError) -> StoreError {
    match e {
        wit::StoreError::Unreachable(m) => StoreError::Unreachable(m),
        wit::StoreError::Denied(m) => StoreError::Denied(m),
        wit::StoreError::NoBucket(m) => StoreError::NoBucket(m),
        wit::StoreError::NotFound(m) => StoreError::NotFound(m),
        wit::StoreError::Invalid(m) => StoreError::Invalid(m),
        wit::StoreError::Other(m) => StoreError::Other(m),
    }
}

/// The granted store location.
pub struct Bucket {
    #[cfg(target_arch = "wasm32")]
    inner: wit::Bucket,
    #[cfg(not(target_arch = "wasm32"))]
    root: std::path::PathBuf,
}

/// An object being written in parts; nothing is visible at its path until
/// [`Upload::complete`].
pub struct Upload {
    #[cfg(target_arch = "wasm32")]
    inner: wit::Upload,
    #[cfg(not(target_arch = "wasm32"))]
    native: native::Upload,
}

impl Bucket {
    /// Opens the location `url` (the value of the config key marked `x-connectd-grant:
    /// store-url`) with `options` (`s3.region`, `s3.endpoint`, `aws.access.key.id`, ...; see
    /// `wit/store.wit`).
    pub fn open(url: &str, options: &[(String, String)]) -> Result<Bucket, StoreError> {
        #[cfg(target_arch = "wasm32")]
        return wit::Bucket::open(url, options)
            .map(|inner| Bucket { inner })
            .map_err(error);
        #[cfg(not(target_arch = "wasm32"))]
        return native::open(url, options).map(|root| Bucket { root });
    }

    /// Writes a whole object at once.
    pub fn put(&self, path: &str, data: &[u8]) -> Result<(), StoreError> {
        #[cfg(target_arch = "wasm32")]
        return self.inner.put(path, data).map_err(error);
        #[cfg(not(target_arch = "wasm32"))]
        return native::put(&self.root, path, data);
    }

    /// Reads a whole object.
    pub fn get(&self, path: &str) -> Result<Vec<u8>, StoreError> {
        #[cfg(target_arch = "wasm32")]
        return self.inner.get(path).map_err(error);
        #[cfg(not(target_arch = "wasm32"))]
        return native::get(&self.root, path);
    }

    /// Every object under `prefix` ("" for all), at any depth.
    pub fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        #[cfg(target_arch = "wasm32")]
        return self
            .inner
            .list_objects(prefix)
            .map(|objects| {
                objects
                    .into_iter()
                    .map(|o| ObjectMeta {
                        path: o.path,
                        size: o.size,
                        last_modified_ms: o.last_modified_ms,
                    })
                    .collect()
            })
            .map_err(error);
        #[cfg(not(target_arch = "wasm32"))]
        return native::list(&self.root, prefix);
    }

    /// Deletes an object (one that does not exist is not an error).
    pub fn delete(&self, path: &str) -> Result<(), StoreError> {
        #[cfg(target_arch = "wasm32")]
        return self.inner.delete(path).map_err(error);
        #[cfg(not(target_arch = "wasm32"))]
        return native::delete(&self.root, path);
    }

    /// Starts writing `path` in parts.
    pub fn upload(&self, path: &str) -> Result<Upload, StoreError> {
        #[cfg(target_arch = "wasm32")]
        return self
            .inner
            .upload(path)
            .map(|inner| Upload { inner })
            .map_err(error);
        #[cfg(not(target_arch = "wasm32"))]
        return native::Upload::start(&self.root, path).map(|native| Upload { native });
    }
}

impl Upload {
    /// Appends `data` (the host sends full parts in the background).
    pub fn write(&mut self, data: &[u8]) -> Result<(), StoreError> {
        #[cfg(target_arch = "wasm32")]
        return self.inner.write(data).map_err(error);
        #[cfg(not(target_arch = "wasm32"))]
        return self.native.write(data);
    }

    /// Makes the object visible at its path, whole.
    pub fn complete(self) -> Result<(), StoreError> {
        #[cfg(target_arch = "wasm32")]
        return self.inner.complete().map_err(error);
        #[cfg(not(target_arch = "wasm32"))]
        return self.native.complete();
    }

    /// Gives the upload up: nothing becomes visible.
    pub fn abort(self) -> Result<(), StoreError> {
        #[cfg(target_arch = "wasm32")]
        return self.inner.abort().map_err(error);
        #[cfg(not(target_arch = "wasm32"))]
        return self.native.abort();
    }
}

/// Native mode: local folders only, with the host's semantics (temp-then-rename).
#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::io::Write;
    use std::path::{Path, PathBuf};

    use super::{ObjectMeta, StoreError};

    fn io(context: &str, e: std::io::Error) -> StoreError {
        match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound(format!("{context}: {e}")),
            std::io::ErrorKind::PermissionDenied => StoreError::Denied(format!("{context}: {e}")),
            _ => StoreError::Other(format!("{context}: {e}")),
        }
    }

    pub(super) fn open(url: &str, options: &[(String, String)]) -> Result<PathBuf, StoreError> {
        if let Some((key, _)) = options.first() {
            return Err(StoreError::Invalid(format!(
                "option {key}: a connector built into the worker reaches local folders only"
            )));
        }
        let path = url.strip_prefix("file://").unwrap_or(url);
        if path.contains("://") {
            return Err(StoreError::Invalid(format!(
                "{url}: a connector built into the worker reaches local folders only"
            )));
        }
        std::fs::create_dir_all(path).map_err(|e| io(path, e))?;
        Ok(PathBuf::from(path))
    }

    fn resolve(root: &Path, path: &str) -> Result<PathBuf, StoreError> {
        if path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(StoreError::Invalid(format!(
                "{path}: not a relative path of plain segments"
            )));
        }
        Ok(root.join(path))
    }

    /// The hidden temporary file `path` is written to before the rename.
    fn temporary(target: &Path) -> PathBuf {
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        target.with_file_name(format!(".{name}.tmp"))
    }

    pub(super) fn put(root: &Path, path: &str, data: &[u8]) -> Result<(), StoreError> {
        let mut upload = Upload::start(root, path)?;
        upload.write(data)?;
        upload.complete()
    }

    pub(super) fn get(root: &Path, path: &str) -> Result<Vec<u8>, StoreError> {
        std::fs::read(resolve(root, path)?).map_err(|e| io(path, e))
    }

    pub(super) fn delete(root: &Path, path: &str) -> Result<(), StoreError> {
        match std::fs::remove_file(resolve(root, path)?) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path, e)),
            _ => Ok(()),
        }
    }

    pub(super) fn list(root: &Path, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let mut out = Vec::new();
        let mut dirs = vec![root.join(prefix)];
        while let Some(dir) = dirs.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&dir.to_string_lossy(), e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| io(&dir.to_string_lossy(), e))?;
                let meta = entry
                    .metadata()
                    .map_err(|e| io(&dir.to_string_lossy(), e))?;
                if meta.is_dir() {
                    dirs.push(entry.path());
                } else if !entry.file_name().to_string_lossy().starts_with('.') {
                    let path = entry.path();
                    let relative = path.strip_prefix(root).unwrap_or(&path);
                    let modified = meta
                        .modified()
                        .ok()
                        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_millis() as i64);
                    out.push(ObjectMeta {
                        path: relative.to_string_lossy().into_owned(),
                        size: meta.len(),
                        last_modified_ms: modified,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    pub(super) struct Upload {
        file: std::fs::File,
        temporary: PathBuf,
        target: PathBuf,
    }

    impl Upload {
        pub(super) fn start(root: &Path, path: &str) -> Result<Upload, StoreError> {
            let target = resolve(root, path)?;
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io(path, e))?;
            }
            let temporary = temporary(&target);
            let file = std::fs::File::create(&temporary).map_err(|e| io(path, e))?;
            Ok(Upload {
                file,
                temporary,
                target,
            })
        }

        pub(super) fn write(&mut self, data: &[u8]) -> Result<(), StoreError> {
            self.file
                .write_all(data)
                .map_err(|e| io(&self.target.to_string_lossy(), e))
        }

        pub(super) fn complete(self) -> Result<(), StoreError> {
            let context = self.target.to_string_lossy().into_owned();
            self.file.sync_data().map_err(|e| io(&context, e))?;
            std::fs::rename(&self.temporary, &self.target).map_err(|e| io(&context, e))
        }

        pub(super) fn abort(self) -> Result<(), StoreError> {
            let _ = std::fs::remove_file(&self.temporary);
            Ok(())
        }
    }
}
