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

/// Where `path` leads, as the OS would follow it: made absolute (against the working
/// directory), then the longest part of it as written that exists resolved by the file system
/// (links and the `..` after them, in the order the OS takes them), and only the rest, which
/// does not exist and so holds no link, worked out by name.
pub(crate) fn resolved(path: &Path) -> PathBuf {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let parts: Vec<Component> = path.components().collect();
    for cut in (1..=parts.len()).rev() {
        let prefix: PathBuf = parts[..cut].iter().collect();
        if let Ok(mut real) = std::fs::canonicalize(&prefix) {
            for part in &parts[cut..] {
                match part {
                    Component::ParentDir => {
                        real.pop();
                    }
                    Component::CurDir => {}
                    other => real.push(other),
                }
            }
            return real;
        }
    }
    normalize(&path)
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
        // `..` after a link climbs from where the link leads, as the OS does.
        std::fs::create_dir_all(real.join("deep/inner")).unwrap();
        std::os::unix::fs::symlink(real.join("deep/inner"), real.join("a/ext")).unwrap();
        assert_eq!(resolved(&real.join("a/ext/../x")), real.join("deep/x"));
        // A relative path is taken from the working directory, never cut at its start.
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            resolved(Path::new("no-such-dir/../../x")),
            resolved(&cwd.join("../x"))
        );
    }
}
