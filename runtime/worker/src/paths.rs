//! Paths as the worker checks them against allowed folders: by name alone, and with the
//! symbolic links of the part that exists resolved.

use std::path::{Component, Path, PathBuf};

/// `path` with `.` and `..` taken away as written (no file system, no symlinks followed).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `path` with every symbolic link in the part of it that exists resolved (the rest as
/// written, normalized).
pub(crate) fn resolved(path: &Path) -> PathBuf {
    let normal = normalize(path);
    let mut existing = normal.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return rest.iter().rev().fold(real, |p, part| p.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return normal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_in_the_existing_part_are_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(real.join("a")).unwrap();
        std::os::unix::fs::symlink("/etc", real.join("a/link")).unwrap();
        assert_eq!(normalize(Path::new("/x/./y/../z")), PathBuf::from("/x/z"));
        assert_eq!(
            resolved(&real.join("a/link/not-there/f")),
            PathBuf::from("/etc/not-there/f")
        );
        assert_eq!(resolved(&real.join("a/../a/new/f")), real.join("a/new/f"));
    }
}
