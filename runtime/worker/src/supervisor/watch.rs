//! The folder watcher: reconciles after each burst of changes in `plugin_dir` or
//! `connectors_dir`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use notify::Watcher;

use super::Supervisor;
use crate::error::{Error, Result};
use crate::worker::WorkerSettings;

/// How long a folder must be quiet before a change is applied (editors write in steps).
const SETTLE: Duration = Duration::from_millis(300);

/// Watches both folders (notify) and reconciles after each burst of changes.
pub(crate) fn watch(
    settings: &WorkerSettings,
    supervisor: Arc<Mutex<Supervisor>>,
    shutdown: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = tx.send(());
        }
    })
    .map_err(|e| Error::Io {
        context: "starting the folder watcher".into(),
        source: std::io::Error::other(e),
    })?;
    for dir in [&settings.plugin_dir, &settings.connectors_dir] {
        watcher
            .watch(dir, notify::RecursiveMode::NonRecursive)
            .map_err(|e| Error::Io {
                context: format!("watching {}", dir.display()),
                source: std::io::Error::other(e),
            })?;
    }
    std::thread::Builder::new()
        .name("connectd-watch".into())
        .spawn(move || {
            let _watcher = watcher; // dropped (and unwatched) when the thread ends
            while !shutdown.load(Ordering::Relaxed) {
                if rx.recv_timeout(Duration::from_millis(200)).is_err() {
                    continue;
                }
                // Let the burst settle, then apply it once.
                while rx.recv_timeout(SETTLE).is_ok() {}
                if shutdown.load(Ordering::Relaxed) {
                    break;
                }
                supervisor
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .reconcile();
            }
        })
        .map_err(|e| Error::Io {
            context: "starting the watcher thread".into(),
            source: e,
        })
}
