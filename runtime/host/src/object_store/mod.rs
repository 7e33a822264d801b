//! The `object-store` interface the host gives sink components: put, multipart upload, get,
//! list and delete in the one location the connector's config grants
//! (`x-connectd-grant: store-url`), through the `object_store` crate.
//!
//! - Calls block the task's own thread on a small runtime of the host's own; the wait does
//!   not count against the task's CPU deadline (as for `sql`).
//! - Uploads buffer 5 MiB parts and send up to [`UPLOAD_CONCURRENCY`] of them in the
//!   background while the guest goes on encoding.
//! - On a local folder an object is written to a hidden temporary file (`.<name>.tmp`) and
//!   renamed into place, so a reader never sees part of one, even after a kill -9; the next
//!   upload of the same object removes what such a crash left.

mod location;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::WriteMultipart;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use wasmtime::component::Resource;

use crate::bindings::sink::connectd::connector::object_store::{
    self as wit, Host, HostBucket, HostUpload, ObjectMeta, StoreError,
};
use crate::store::{TaskState, Waited};

/// Parts one upload may have in flight at once.
pub const UPLOAD_CONCURRENCY: usize = 4;

/// The host side of a `bucket`.
#[derive(Clone)]
struct Bucket {
    store: Arc<dyn ObjectStore>,
    local_root: Option<PathBuf>,
}

/// The host side of an `upload`.
struct Upload {
    store: Arc<dyn ObjectStore>,
    writer: Option<WriteMultipart>,
    /// Where the object ends up; for a local folder, the temporary object renamed there.
    target: Path,
    temporary: Option<Path>,
}

/// The full text of an error and its sources.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// What kind of failure `e` is: the store's answer names a missing bucket or refused keys;
/// a request that never got an answer means the store is unreachable.
pub(crate) fn classify(e: object_store::Error) -> StoreError {
    let text = chain(&e);
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    // A request that got no answer first: its text holds the URL, whose port may hold "403".
    let no_answer = has(&[
        "error sending request",
        "tcp connect error",
        "dns error",
        "os error 111",
        "os error 113",
        "timed out",
    ]);
    if no_answer {
        StoreError::Unreachable(format!(
            "{text} (is the store running, and the endpoint right?)"
        ))
    } else if has(&["NoSuchBucket", "bucket does not exist", "ContainerNotFound"]) {
        StoreError::NoBucket(format!("{text} (create the bucket, or fix the URL)"))
    } else if has(&[
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "403 Forbidden",
        "401 Unauthorized",
        "ExpiredToken",
        "Permission denied",
    ]) || matches!(
        e,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    ) {
        StoreError::Denied(format!(
            "{text} (check aws.access.key.id / aws.secret.access.key, or the store's permissions)"
        ))
    } else if matches!(e, object_store::Error::NotFound { .. }) {
        StoreError::NotFound(text)
    } else if has(&[
        "error sending request",
        "Connection refused",
        "connection refused",
        "dns error",
        "timed out",
        "Timeout",
        "Connect",
        "os error 111",
        "os error 113",
    ]) {
        StoreError::Unreachable(format!(
            "{text} (is the store running, and the endpoint right?)"
        ))
    } else if matches!(e, object_store::Error::InvalidPath { .. }) {
        StoreError::Invalid(text)
    } else {
        StoreError::Other(text)
    }
}

fn bucket_entry(handle: &Resource<wit::Bucket>) -> Resource<Bucket> {
    Resource::new_borrow(handle.rep())
}

fn upload_entry(handle: &Resource<wit::Upload>) -> Resource<Upload> {
    Resource::new_borrow(handle.rep())
}

fn path(p: &str) -> Result<Path, StoreError> {
    location::object_path(p).map_err(StoreError::Invalid)
}

impl TaskState {
    fn bucket(&self, handle: &Resource<wit::Bucket>) -> Result<Bucket, StoreError> {
        let b = self
            .table
            .get(&bucket_entry(handle))
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        Ok(b.clone())
    }

    /// The bucket and the object at `p` in it, refused if it is reached through a symbolic
    /// link (local locations).
    fn object(
        &self,
        handle: &Resource<wit::Bucket>,
        p: &str,
    ) -> Result<(Bucket, Path), StoreError> {
        let bucket = self.bucket(handle)?;
        let target = path(p)?;
        refuse_symlinks(bucket.local_root.as_deref(), &target)?;
        Ok((bucket, target))
    }

    /// Runs `f` on the I/O runtime (see [`TaskState::block_on`]); a panic inside the store
    /// client (it has a few `unwrap`s on what it is given) becomes an error of this call.
    fn store_wait<T>(
        &mut self,
        f: impl Future<Output = object_store::Result<T>>,
    ) -> object_store::Result<T> {
        self.block_on(f).unwrap_or_else(|waited| {
            let source = match waited {
                Waited::Panicked(text) => format!("the object store client failed: {text}"),
                Waited::TimedOut(text) => text,
            };
            Err(object_store::Error::Generic {
                store: "client",
                source: source.into(),
            })
        })
    }
}

/// Refuses a local object reached through a symbolic link below the location's folder: one
/// planted there (the connector cannot make them) must not lead outside the folder. Parts that
/// do not exist yet are fine: a put creates them as folders.
fn refuse_symlinks(root: Option<&std::path::Path>, target: &Path) -> Result<(), StoreError> {
    let Some(root) = root else {
        return Ok(());
    };
    let mut at = root.to_path_buf();
    for part in target.parts() {
        at.push(part.as_ref());
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(StoreError::Denied(format!(
                    "{target}: {} is a symbolic link, and a local location's objects are never reached through one (it could lead outside the folder); remove it",
                    at.display()
                )));
            }
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// The hidden temporary object a local upload of `target` writes, and removes what a crash
/// during an earlier upload of the same object left (object_store stages it as `<name>#<n>`).
fn local_temporary(root: &std::path::Path, target: &Path) -> Path {
    let name = target.filename().unwrap_or_default();
    let temporary_name = format!(".{name}.tmp");
    let parent: Vec<_> = target.parts().collect();
    let folder = &parent[..parent.len().saturating_sub(1)];
    let temporary: Path = folder
        .iter()
        .cloned()
        .chain(std::iter::once(temporary_name.as_str().into()))
        .collect();
    let dir = folder
        .iter()
        .fold(root.to_path_buf(), |d, p| d.join(p.as_ref()));
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if file == temporary_name || file.starts_with(&format!("{temporary_name}#")) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    temporary
}

impl Host for TaskState {}

impl HostBucket for TaskState {
    fn open(
        &mut self,
        url: String,
        options: Vec<(String, String)>,
    ) -> Result<Resource<wit::Bucket>, StoreError> {
        if !self.store_urls.contains(&url) {
            return Err(StoreError::Invalid(format!(
                "{url:?} is not the value of a key the connector's schema marks x-connectd-grant: store-url ({} granted)",
                self.store_urls.len()
            )));
        }
        let options: HashMap<String, String> = options.into_iter().collect();
        let location =
            location::open(&url, &options, &self.store_policy).map_err(StoreError::Invalid)?;
        // Listing the location checks the bucket, the keys and the endpoint now rather than
        // at the first upload.
        let store = location.store.clone();
        self.store_wait(async move { store.list_with_delimiter(None).await })
            .map_err(classify)?;
        let own = self
            .table
            .push(Bucket {
                store: location.store,
                local_root: location.local_root,
            })
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        Ok(Resource::new_own(own.rep()))
    }

    fn put(
        &mut self,
        bucket: Resource<wit::Bucket>,
        p: String,
        data: Vec<u8>,
    ) -> Result<(), StoreError> {
        let (Bucket { store, local_root }, target) = self.object(&bucket, &p)?;
        let temporary = local_root
            .as_deref()
            .map(|root| local_temporary(root, &target));
        self.store_wait(async move {
            let payload = PutPayload::from(data);
            match temporary {
                Some(temporary) => {
                    store.put(&temporary, payload).await?;
                    store.rename(&temporary, &target).await
                }
                None => store.put(&target, payload).await.map(|_| ()),
            }
        })
        .map_err(classify)
    }

    fn get(&mut self, bucket: Resource<wit::Bucket>, p: String) -> Result<Vec<u8>, StoreError> {
        let (Bucket { store, .. }, target) = self.object(&bucket, &p)?;
        self.store_wait(async move { store.get(&target).await?.bytes().await })
            .map(|b| b.to_vec())
            .map_err(classify)
    }

    fn list_objects(
        &mut self,
        bucket: Resource<wit::Bucket>,
        prefix: String,
    ) -> Result<Vec<ObjectMeta>, StoreError> {
        let Bucket { store, local_root } = self.bucket(&bucket)?;
        let prefix = if prefix.is_empty() {
            None
        } else {
            Some(path(&prefix)?)
        };
        if let Some(prefix) = &prefix {
            refuse_symlinks(local_root.as_deref(), prefix)?;
        }
        let objects: Vec<object_store::ObjectMeta> = self
            .store_wait(async move { store.list(prefix.as_ref()).try_collect().await })
            .map_err(classify)?;
        Ok(objects
            .into_iter()
            // Hidden files are a local upload's temporaries; what a symbolic link leads to is
            // not in the location.
            .filter(|o| !o.location.filename().unwrap_or_default().starts_with('.'))
            .filter(|o| refuse_symlinks(local_root.as_deref(), &o.location).is_ok())
            .map(|o| ObjectMeta {
                path: o.location.to_string(),
                size: o.size,
                last_modified_ms: o.last_modified.timestamp_millis(),
            })
            .collect())
    }

    fn delete(&mut self, bucket: Resource<wit::Bucket>, p: String) -> Result<(), StoreError> {
        let (Bucket { store, .. }, target) = self.object(&bucket, &p)?;
        match self.store_wait(async move { store.delete(&target).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }

    fn upload(
        &mut self,
        bucket: Resource<wit::Bucket>,
        p: String,
    ) -> Result<Resource<wit::Upload>, StoreError> {
        let (Bucket { store, local_root }, target) = self.object(&bucket, &p)?;
        let temporary = local_root
            .as_deref()
            .map(|root| local_temporary(root, &target));
        let written = temporary.clone().unwrap_or_else(|| target.clone());
        let started = store.clone();
        let upload = self
            .store_wait(async move { started.put_multipart(&written).await })
            .map_err(classify)?;
        let own = self
            .table
            .push(Upload {
                store,
                writer: Some(WriteMultipart::new(upload)),
                target,
                temporary,
            })
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        Ok(Resource::new_own(own.rep()))
    }

    fn drop(&mut self, bucket: Resource<wit::Bucket>) -> wasmtime::Result<()> {
        self.table
            .delete(Resource::<Bucket>::new_own(bucket.rep()))?;
        Ok(())
    }
}

impl TaskState {
    fn take_upload(&mut self, handle: &Resource<wit::Upload>) -> Result<&mut Upload, StoreError> {
        self.table
            .get_mut(&upload_entry(handle))
            .map_err(|e| StoreError::Invalid(e.to_string()))
    }
}

impl HostUpload for TaskState {
    fn write(&mut self, upload: Resource<wit::Upload>, data: Vec<u8>) -> Result<(), StoreError> {
        let u = self.take_upload(&upload)?;
        let Some(mut writer) = u.writer.take() else {
            return Err(StoreError::Invalid("the upload is finished".into()));
        };
        let result = self.store_wait(async {
            writer.wait_for_capacity(UPLOAD_CONCURRENCY).await?;
            // Spawns full parts onto this runtime.
            writer.write(&data);
            Ok(())
        });
        self.take_upload(&upload)?.writer = Some(writer);
        result.map_err(classify)
    }

    fn complete(&mut self, upload: Resource<wit::Upload>) -> Result<(), StoreError> {
        let u = self.take_upload(&upload)?;
        let Some(writer) = u.writer.take() else {
            return Err(StoreError::Invalid("the upload is finished".into()));
        };
        let (store, target, temporary) = (u.store.clone(), u.target.clone(), u.temporary.clone());
        self.store_wait(async move {
            writer.finish().await?;
            match temporary {
                Some(temporary) => store.rename(&temporary, &target).await,
                None => Ok(()),
            }
        })
        .map_err(classify)
    }

    fn abort(&mut self, upload: Resource<wit::Upload>) -> Result<(), StoreError> {
        let u = self.take_upload(&upload)?;
        match u.writer.take() {
            Some(writer) => self.store_wait(writer.abort()).map_err(classify),
            None => Ok(()),
        }
    }

    fn drop(&mut self, upload: Resource<wit::Upload>) -> wasmtime::Result<()> {
        let u = self
            .table
            .delete(Resource::<Upload>::new_own(upload.rep()))?;
        if let Some(writer) = u.writer {
            // Not completed: give the parts up (S3 would keep them, billed, until a lifecycle
            // rule removes them).
            if let Some(io) = &self.io {
                io.spawn(async move {
                    let _ = writer.abort().await;
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(granted: &str) -> TaskState {
        let grants = crate::Grants {
            store_urls: vec![granted.to_string()],
            ..Default::default()
        };
        TaskState::new(&grants, &crate::Limits::default(), Some(crate::tests_io())).unwrap()
    }

    fn borrow(b: &Resource<wit::Bucket>) -> Resource<wit::Bucket> {
        Resource::new_borrow(b.rep())
    }

    /// Every object's path, as `list_objects` gives them.
    fn paths(s: &mut TaskState, b: &Resource<wit::Bucket>) -> Vec<String> {
        let objects = s.list_objects(borrow(b), "".into()).unwrap();
        objects.into_iter().map(|o| o.path).collect()
    }

    #[test]
    fn a_local_location_puts_uploads_lists_gets_and_deletes_inside_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("lake");
        let url = root.to_string_lossy().into_owned();
        let mut s = state(&url);
        let denied = HostBucket::open(&mut s, dir.path().to_string_lossy().into_owned(), vec![]);
        assert!(matches!(denied, Err(StoreError::Invalid(m)) if m.contains("store-url")));
        let bad_option =
            HostBucket::open(&mut s, url.clone(), vec![("s3.regoin".into(), "x".into())]);
        assert!(matches!(bad_option, Err(StoreError::Invalid(m)) if m.contains("s3.regoin")));

        let b = HostBucket::open(&mut s, url.clone(), vec![]).unwrap();
        s.put(borrow(&b), "a/one.txt".into(), b"one".to_vec())
            .unwrap();
        assert_eq!(s.get(borrow(&b), "a/one.txt".into()).unwrap(), b"one");
        assert!(matches!(
            s.get(borrow(&b), "a/none".into()),
            Err(StoreError::NotFound(_))
        ));
        for escape in ["../outside.txt", "/etc/passwd", "a//b"] {
            let err = s.put(borrow(&b), escape.into(), b"x".to_vec()).unwrap_err();
            assert!(matches!(err, StoreError::Invalid(_)), "{escape}: {err:?}");
        }
        assert!(!dir.path().join("outside.txt").exists());

        // An upload is invisible (a hidden temporary) until it completes.
        let u = s.upload(borrow(&b), "a/big.bin".into()).unwrap();
        s.write(Resource::new_borrow(u.rep()), vec![7; 3 << 20])
            .unwrap();
        s.write(Resource::new_borrow(u.rep()), vec![8; 3 << 20])
            .unwrap();
        let listed = paths(&mut s, &b);
        assert_eq!(listed, ["a/one.txt"]);
        assert!(!root.join("a/big.bin").exists());
        s.complete(Resource::new_borrow(u.rep())).unwrap();
        HostUpload::drop(&mut s, u).unwrap();
        let big = s.get(borrow(&b), "a/big.bin".into()).unwrap();
        assert_eq!((big.len(), big[0], big[big.len() - 1]), (6 << 20, 7, 8));
        let hidden: Vec<_> = std::fs::read_dir(root.join("a"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "{hidden:?}");

        // An aborted (or dropped) upload leaves nothing.
        let u = s.upload(borrow(&b), "a/gone.bin".into()).unwrap();
        s.write(Resource::new_borrow(u.rep()), b"partial".to_vec())
            .unwrap();
        s.abort(Resource::new_borrow(u.rep())).unwrap();
        HostUpload::drop(&mut s, u).unwrap();
        let mut listed: Vec<(String, u64)> = s
            .list_objects(borrow(&b), "a".into())
            .unwrap()
            .into_iter()
            .map(|o| (o.path, o.size))
            .collect();
        listed.sort();
        assert_eq!(
            listed,
            [
                ("a/big.bin".to_string(), 6 << 20),
                ("a/one.txt".to_string(), 3)
            ]
        );

        s.delete(borrow(&b), "a/one.txt".into()).unwrap();
        s.delete(borrow(&b), "a/one.txt".into()).unwrap();
        assert!(!root.join("a/one.txt").exists());
        HostBucket::drop(&mut s, b).unwrap();
    }

    #[test]
    fn a_symbolic_link_planted_in_a_local_location_leads_nowhere() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("lake"), dir.path().join("outside"));
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("a/file.txt")).unwrap();
        let mut s = state(&root.to_string_lossy());
        let b = HostBucket::open(&mut s, root.to_string_lossy().into_owned(), vec![]).unwrap();
        s.put(borrow(&b), "a/real.txt".into(), b"mine".to_vec())
            .unwrap();
        for p in ["link/secret.txt", "a/file.txt"] {
            let refused = |r: Result<(), StoreError>| {
                assert!(
                    matches!(&r, Err(StoreError::Denied(m)) if m.contains("symbolic link")),
                    "{p}: {r:?}"
                )
            };
            refused(s.get(borrow(&b), p.into()).map(drop));
            refused(s.put(borrow(&b), p.into(), b"x".to_vec()));
            refused(s.upload(borrow(&b), p.into()).map(drop));
            refused(s.delete(borrow(&b), p.into()));
        }
        assert!(matches!(
            s.list_objects(borrow(&b), "link".into()),
            Err(StoreError::Denied(_))
        ));
        let listed = paths(&mut s, &b);
        assert_eq!(listed, ["a/real.txt"]);
        assert_eq!(
            std::fs::read(outside.join("secret.txt")).unwrap(),
            b"secret"
        );
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
        HostBucket::drop(&mut s, b).unwrap();
    }
}
