//! The `files` interface the host gives sink components: appends on the task's own thread,
//! one system call each, to files directly inside the directories the connector's config
//! grants read-write.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use wasmtime::component::Resource;

use crate::bindings::sink::connectd::connector::files::{self, Host, HostAppender};
use crate::store::TaskState;

/// The host side of a `files.appender`, kept in the task's resource table under the handle
/// the guest holds.
struct Appender {
    file: File,
    path: PathBuf,
}

/// The table entry behind a guest handle.
fn entry(handle: &Resource<files::Appender>) -> Resource<Appender> {
    Resource::new_borrow(handle.rep())
}

/// The host path for `path`, if it names a file directly inside one of the read-write
/// directories (`(host path, path the guest sees)`). A path with `..`, a file in a
/// subdirectory, or anything outside the grants is refused.
fn resolve(write_dirs: &[(PathBuf, String)], path: &str) -> Result<PathBuf, String> {
    let wanted = Path::new(path);
    let (Some(parent), Some(name)) = (wanted.parent(), wanted.file_name()) else {
        return Err(format!("{path} does not name a file"));
    };
    write_dirs
        .iter()
        .find(|(_, guest)| Path::new(guest) == parent)
        .map(|(host, _)| host.join(name))
        .ok_or_else(|| {
            let granted: Vec<&str> = write_dirs.iter().map(|(_, g)| g.as_str()).collect();
            format!(
                "{path} is not directly inside a directory granted read-write (granted: {})",
                if granted.is_empty() {
                    "none".to_string()
                } else {
                    granted.join(", ")
                }
            )
        })
}

impl Host for TaskState {}

impl HostAppender for TaskState {
    fn open(&mut self, path: String) -> Result<Resource<files::Appender>, String> {
        let host_path = resolve(&self.write_dirs, &path)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            // A symlink planted in the granted directory must not lead outside it.
            .custom_flags(libc::O_NOFOLLOW)
            .open(&host_path)
            .map_err(|e| format!("opening {path} for appending: {e}"))?;
        let own = self
            .table
            .push(Appender {
                file,
                path: path.into(),
            })
            .map_err(|e| e.to_string())?;
        Ok(Resource::new_own(own.rep()))
    }

    fn append(&mut self, appender: Resource<files::Appender>, data: Vec<u8>) -> Result<(), String> {
        let a = self
            .table
            .get_mut(&entry(&appender))
            .map_err(|e| e.to_string())?;
        // One write() for the whole buffer: O_APPEND makes it atomic against other appenders.
        let written = a
            .file
            .write(&data)
            .map_err(|e| format!("appending to {}: {e}", a.path.display()))?;
        if written < data.len() {
            // Only a full disk or a signal cuts a regular-file write short; finish it.
            a.file
                .write_all(&data[written..])
                .map_err(|e| format!("appending to {}: {e}", a.path.display()))?;
        }
        Ok(())
    }

    fn sync(&mut self, appender: Resource<files::Appender>) -> Result<(), String> {
        let a = self
            .table
            .get_mut(&entry(&appender))
            .map_err(|e| e.to_string())?;
        a.file
            .sync_data()
            .map_err(|e| format!("syncing {}: {e}", a.path.display()))
    }

    fn drop(&mut self, appender: Resource<files::Appender>) -> wasmtime::Result<()> {
        self.table
            .delete(Resource::<Appender>::new_own(appender.rep()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_directly_inside_a_granted_directory_resolve() {
        let dirs = vec![(PathBuf::from("/host/out"), "/data/out".to_string())];
        assert_eq!(
            resolve(&dirs, "/data/out/lines.txt").unwrap(),
            PathBuf::from("/host/out/lines.txt")
        );
        for bad in [
            "/data/out/../secret",
            "/data/out/sub/lines.txt",
            "/data/other.txt",
            "/data/out",
            "lines.txt",
        ] {
            let err = resolve(&dirs, bad).unwrap_err();
            assert!(
                err.contains(bad) || err.contains("does not name"),
                "{bad}: {err}"
            );
        }
        assert!(resolve(&[], "/x/y").unwrap_err().contains("granted: none"));
    }

    #[test]
    fn appends_land_in_the_granted_file_and_symlinks_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let guest = dir.path().to_string_lossy().into_owned();
        let grants = crate::Grants {
            write_dirs: vec![(dir.path().to_path_buf(), guest.clone())],
            ..Default::default()
        };
        let mut state =
            TaskState::new(&grants, &crate::Limits::default(), Some(crate::tests_io())).unwrap();
        let path = format!("{guest}/out.txt");
        let a = state.open(path.clone()).unwrap();
        state
            .append(Resource::new_borrow(a.rep()), b"one\n".to_vec())
            .unwrap();
        state
            .append(Resource::new_borrow(a.rep()), b"two\n".to_vec())
            .unwrap();
        state.sync(Resource::new_borrow(a.rep())).unwrap();
        HostAppender::drop(&mut state, a).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one\ntwo\n");

        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("secret.txt");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("link.txt")).unwrap();
        let err = state.open(format!("{guest}/link.txt")).err().unwrap();
        assert!(err.contains("link.txt"), "{err}");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }
}
