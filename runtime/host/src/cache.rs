//! Compiled components cached on disk by the SHA-256 of their `.wasm`, so a restart does not
//! recompile. A cache entry that fails to load (another wasmtime version, a torn write) is
//! recompiled and replaced.

use std::path::Path;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use crate::{Error, Result};

pub(crate) fn load(engine: &wasmtime::Engine, cache_dir: &Path, wasm: &Path) -> Result<Component> {
    let bytes = std::fs::read(wasm).map_err(|e| Error::Io {
        context: format!("reading plugin {}", wasm.display()),
        source: e,
    })?;
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let cached = cache_dir.join(format!("{hex}.cwasm"));
    if cached.exists() {
        // SAFETY: the file is one this host serialised with the same engine configuration;
        // wasmtime checks the engine and version header and refuses a mismatch.
        match unsafe { Component::deserialize_file(engine, &cached) } {
            Ok(c) => return Ok(c),
            Err(e) => {
                tracing::warn!(cache = %cached.display(), error = %e, "ignoring unusable compiled-component cache entry")
            }
        }
    }
    let component = Component::new(engine, &bytes).map_err(|e| Error::InvalidPlugin {
        path: wasm.to_path_buf(),
        reason: format!("not a WebAssembly component built for connectd:connector@0.1.0 (build with --target wasm32-wasip2): {e:#}"),
    })?;
    match component.serialize() {
        Ok(compiled) => {
            let tmp = cached.with_extension("tmp");
            if let Err(e) =
                std::fs::write(&tmp, compiled).and_then(|_| std::fs::rename(&tmp, &cached))
            {
                tracing::warn!(cache = %cached.display(), error = %e, "could not cache compiled component");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not serialise compiled component"),
    }
    Ok(component)
}
