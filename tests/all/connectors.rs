//! Builds connector crates for wasm32-wasip2, as the tests need them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Builds `package` for wasm32-wasip2 (once per test binary) and returns its `.wasm`. Uses its
/// own target directory so it never waits on the lock of the `cargo test` that runs us.
pub fn build_connector(package: &str) -> PathBuf {
    static LOCK: Mutex<Vec<String>> = Mutex::new(Vec::new());
    // Every package that uses this lives two levels below the workspace root.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target_dir = root.join("target/connectors");
    let mut built = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|p| p == package) {
        let status = Command::new(env!("CARGO"))
            .current_dir(&root)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "-p",
                package,
                "--target-dir",
            ])
            .arg(&target_dir)
            .status()
            .expect("running cargo");
        assert!(
            status.success(),
            "building {package} for wasm32-wasip2 failed (is the target installed? `rustup toolchain install`)"
        );
        built.push(package.to_string());
    }
    target_dir
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", package.replace('-', "_")))
}

/// Builds each `(package, name)` and drops it into `dir/plugins` as `name.wasm`; makes the
/// `connectors.d`, `input` and `output` folders the tests' worker configs name.
#[allow(dead_code)] // runtime/host's tests include this file for build_connector alone
pub fn install(dir: &Path, plugins: &[(&str, &str)]) {
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    for (package, name) in plugins {
        let wasm = build_connector(package);
        std::fs::copy(&wasm, dir.join(format!("plugins/{name}.wasm"))).unwrap();
    }
    for sub in ["connectors.d", "input", "output"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
}
