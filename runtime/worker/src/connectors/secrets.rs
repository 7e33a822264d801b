//! Kafka's config providers for connector values: `${env:NAME}` and `${file:/path}`.
//!
//! A reference is resolved once, when the connector starts (and again at each restart, so a
//! rotated secret is picked up), never when a config is read, checked or stored: the REST API
//! and the config files see only the references. Every resolved value is a secret: it goes to
//! the connector and nowhere else ([`Secrets::redact`] hides it in any text the worker writes).
//! Resolution errors name the key and the reference, never a value.
//!
//! What a reference may reach is the worker's choice, in worker.toml, never a config's:
//! - `${env:NAME}` only for names the worker's allow-list matches in full (Kafka's
//!   `config.providers.env.param.allowlist.pattern`, KIP-887); none by default;
//! - `${file:/path}` only for an absolute path below an allowed directory (Kafka's
//!   `config.providers.file.param.allowed.paths`, KIP-993), checked as written before the
//!   file is touched (so the answer says nothing of files elsewhere) and again after symlinks
//!   are resolved;
//! - at most [`MAX_REFERENCES`] references per config, files of at most [`MAX_FILE_BYTES`],
//!   and [`MAX_RESOLVED_BYTES`] resolved in all: a small config cannot make the worker read
//!   gigabytes.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::paths::normalize;

/// Most `${provider:...}` references one connector config may hold.
pub const MAX_REFERENCES: usize = 64;
/// Largest file a `${file:}` reference may read.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;
/// Most bytes the references of one config may resolve to, together.
pub const MAX_RESOLVED_BYTES: usize = 1 << 20;

/// What `${env:}` and `${file:}` may reach, as worker.toml says.
#[derive(Debug, Clone, Default)]
pub struct ConfigProviders {
    /// Directories `${file:}` may read below.
    allowed_dirs: Vec<PathBuf>,
    /// Environment variable names `${env:}` may read (matched in full); `None`: none.
    env_allowlist: Option<regex::Regex>,
}

/// Why worker.toml's provider settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("config_providers_env_allowlist_pattern: not a regular expression: {0}")]
pub struct BadAllowlist(String);

impl ConfigProviders {
    /// `${file:}` below `allowed_dirs` (absolute), `${env:}` for names `env_allowlist`
    /// matches in full (empty or `None`: no variable).
    pub fn new(
        allowed_dirs: Vec<PathBuf>,
        env_allowlist: Option<&str>,
    ) -> Result<ConfigProviders, BadAllowlist> {
        // Relative or empty, a directory would allow every path once normalized.
        let allowed_dirs = allowed_dirs
            .into_iter()
            .filter(|d| !d.as_os_str().is_empty())
            .filter_map(|d| std::path::absolute(d).ok())
            .collect();
        let env_allowlist = env_allowlist
            .filter(|p| !p.is_empty())
            .map(|p| regex::Regex::new(&format!("^(?:{p})$")))
            .transpose()
            .map_err(|e| BadAllowlist(e.to_string()))?;
        Ok(ConfigProviders {
            allowed_dirs,
            env_allowlist,
        })
    }

    /// Resolves a connector's values: every reference replaced, every value it resolved to
    /// kept as a secret. `Err` names the key and why.
    pub fn resolve(
        &self,
        raw: &std::collections::BTreeMap<String, String>,
    ) -> Result<(std::collections::BTreeMap<String, String>, Secrets), String> {
        let mut resolver = Resolver {
            providers: self,
            references: 0,
            bytes: 0,
            secrets: Vec::new(),
        };
        let mut values = std::collections::BTreeMap::new();
        for (key, text) in raw {
            let value = resolver
                .resolve(text)
                .map_err(|reason| format!("key `{key}`: {reason}"))?;
            values.insert(key.clone(), value);
        }
        Ok((values, Secrets::new(resolver.secrets)))
    }

    fn env(&self, name: &str) -> Result<String, String> {
        if !self
            .env_allowlist
            .as_ref()
            .is_some_and(|allow| allow.is_match(name))
        {
            return Err(format!(
                "${{env:{name}}} is not allowed: add the variable to config_providers_env_allowlist_pattern in worker.toml"
            ));
        }
        std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
    }

    fn file(&self, file: &str) -> Result<String, String> {
        let outside = || {
            let allowed: Vec<String> = self
                .allowed_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            format!(
                "${{file:{file}}} is outside the directories secrets may be read from ([{}]); add its directory to config_providers_file_allowed_paths in worker.toml",
                allowed.join(", ")
            )
        };
        let path = Path::new(file);
        if !path.is_absolute() {
            return Err(format!("${{file:{file}}}: give the file's absolute path"));
        }
        // As written first: a path outside gets the same answer whether or not it exists.
        let lexical = normalize(path);
        if !self
            .allowed_dirs
            .iter()
            .any(|d| lexical.starts_with(normalize(d)))
        {
            return Err(outside());
        }
        let cannot = |e: std::io::Error| format!("cannot read secret file {file}: {e}");
        // Opened without waiting (a FIFO would hold the caller until someone writes), and a
        // regular file only; then what was opened, wherever its name led, is checked against
        // the allowed directories, so no link swapped in after a check by name leads outside.
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&lexical)
            .map_err(cannot)?;
        if !opened.metadata().map_err(cannot)?.is_file() {
            return Err(format!("${{file:{file}}} is not a regular file"));
        }
        let real =
            std::fs::read_link(format!("/proc/self/fd/{}", opened.as_raw_fd())).map_err(cannot)?;
        if !self
            .allowed_dirs
            .iter()
            .filter_map(|d| std::fs::canonicalize(d).ok())
            .any(|d| real.starts_with(d))
        {
            return Err(outside());
        }
        let mut text = String::new();
        opened
            .take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(cannot)?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(format!(
                "secret file {file} is larger than {MAX_FILE_BYTES} bytes"
            ));
        }
        Ok(text.trim_end_matches(['\n', '\r']).to_string())
    }
}

/// Whether `text` holds a provider reference (`${provider:...}`), which only a started
/// connector sees resolved.
pub fn has_reference(text: &str) -> bool {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let tail = &rest[start + 2..];
        match tail.find('}') {
            Some(end) if tail[..end].contains(':') => return true,
            Some(end) => rest = &tail[end + 1..],
            None => return false,
        }
    }
    false
}

/// The values a connector's references resolved to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets(Arc<Vec<String>>);

impl Secrets {
    fn new(values: Vec<String>) -> Secrets {
        // Every form a message may quote a secret in: as it is, escaped as Rust's `{:?}` and
        // JSON write it, and each of its lines; the longest first, so a secret inside
        // another is not hidden piecemeal. Forms shorter than four characters are left
        // alone: hiding them would garble any text while hiding little.
        let mut forms: Vec<String> = values
            .iter()
            .flat_map(|v| {
                let mut forms = vec![
                    v.clone(),
                    v.escape_debug().to_string(),
                    v.escape_default().to_string(),
                    serde_json::to_string(v)
                        .map(|q| q.trim_matches('"').to_string())
                        .unwrap_or_default(),
                ];
                forms.extend(v.lines().map(|l| l.trim().to_string()));
                forms
            })
            .filter(|f| f.chars().count() >= 4)
            .collect();
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms.dedup();
        Secrets(Arc::new(forms))
    }

    /// `text` with every secret replaced by `[hidden]` (see [`Secrets::new`] for the forms).
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for form in self.0.iter() {
            out = out.replace(form.as_str(), "[hidden]");
        }
        out
    }
}

struct Resolver<'a> {
    providers: &'a ConfigProviders,
    references: usize,
    bytes: usize,
    secrets: Vec<String>,
}

impl Resolver<'_> {
    /// Replaces the references in one value. As in Kafka, only `${provider:...}` is one: a
    /// `${name}` without a colon stays as it is, for connectors' own placeholders (the route
    /// transform's `${field}`).
    fn resolve(&mut self, raw: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = raw;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').ok_or("an unterminated ${...}")? + start;
            let reference = &rest[start + 2..end];
            if !reference.contains(':') {
                out.push_str(&rest[start..=end]);
                rest = &rest[end + 1..];
                continue;
            }
            self.references += 1;
            if self.references > MAX_REFERENCES {
                return Err(format!(
                    "more than {MAX_REFERENCES} ${{...}} references in one config"
                ));
            }
            let value = if let Some(name) = reference.strip_prefix("env:") {
                self.providers.env(name)?
            } else if let Some(file) = reference.strip_prefix("file:") {
                self.providers.file(file)?
            } else {
                return Err(format!(
                    "unknown reference ${{{reference}}}: use ${{env:NAME}} or ${{file:/path}}"
                ));
            };
            self.bytes += value.len();
            if self.bytes > MAX_RESOLVED_BYTES {
                return Err(format!(
                    "the config's references resolve to more than {MAX_RESOLVED_BYTES} bytes"
                ));
            }
            out.push_str(&value);
            self.secrets.push(value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn one(providers: &ConfigProviders, value: &str) -> Result<String, String> {
        let raw = BTreeMap::from([("k".to_string(), value.to_string())]);
        providers
            .resolve(&raw)
            .map(|(mut v, _)| v.remove("k").unwrap())
    }

    #[test]
    fn env_only_for_allowed_names_matched_whole() {
        unsafe { std::env::set_var("CONNECTD_TEST_ALLOWED_PW", "s3cret-one") };
        unsafe { std::env::set_var("CONNECTD_TEST_OTHER", "s3cret-two") };
        let none = ConfigProviders::new(vec![], None).unwrap();
        let e = one(&none, "${env:CONNECTD_TEST_ALLOWED_PW}").unwrap_err();
        assert!(
            e.contains("config_providers_env_allowlist_pattern") && !e.contains("s3cret"),
            "{e}"
        );
        let some = ConfigProviders::new(vec![], Some("CONNECTD_TEST_ALLOWED_.*")).unwrap();
        assert_eq!(
            one(&some, "pw=${env:CONNECTD_TEST_ALLOWED_PW}").unwrap(),
            "pw=s3cret-one"
        );
        for refused in ["CONNECTD_TEST_OTHER", "X_CONNECTD_TEST_ALLOWED_PW"] {
            let e = one(&some, &format!("${{env:{refused}}}")).unwrap_err();
            assert!(e.contains("not allowed") && !e.contains("s3cret"), "{e}");
        }
        assert!(ConfigProviders::new(vec![], Some("(")).is_err());
    }

    /// A path outside the allowed directories gets one answer whether or not it exists, and
    /// symlinks and `..` lead nowhere else.
    #[test]
    fn files_only_below_allowed_directories() {
        let allowed = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(allowed.path().join("pw"), "hunter22\n").unwrap();
        std::fs::write(outside.path().join("pw"), "elsewhere").unwrap();
        std::os::unix::fs::symlink(outside.path().join("pw"), allowed.path().join("link")).unwrap();
        let providers = ConfigProviders::new(vec![allowed.path().to_path_buf()], None).unwrap();
        let file = |p: &Path| one(&providers, &format!("${{file:{}}}", p.display()));
        assert_eq!(file(&allowed.path().join("pw")).unwrap(), "hunter22");
        let dotdot = allowed
            .path()
            .join("..")
            .join(outside.path().file_name().unwrap());
        let answers: Vec<String> = [
            outside.path().join("pw"),
            outside.path().join("missing"),
            allowed.path().join("link"),
            dotdot.join("pw"),
        ]
        .iter()
        .map(|p| file(p).unwrap_err())
        .collect();
        for e in &answers {
            assert!(
                e.contains("config_providers_file_allowed_paths") && !e.contains("elsewhere"),
                "{e}"
            );
            assert!(!e.contains("No such file"), "no existence oracle: {e}");
        }
        assert!(one(&providers, "${file:relative/pw}").is_err());
    }

    /// A FIFO (or any file that is not a regular one) is refused at once: opening one to read
    /// would wait for a writer, holding whoever resolves the config.
    #[test]
    fn a_fifo_is_refused_without_waiting() {
        let allowed = tempfile::tempdir().unwrap();
        let fifo = allowed.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let providers = ConfigProviders::new(vec![allowed.path().to_path_buf()], None).unwrap();
        let (done, answer) = std::sync::mpsc::channel();
        let reference = format!("${{file:{}}}", fifo.display());
        std::thread::spawn(move || done.send(one(&providers, &reference)));
        let answer = answer
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("resolving waited on the FIFO");
        assert!(answer.unwrap_err().contains("not a regular file"));
    }

    #[test]
    fn references_and_bytes_are_capped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("big"),
            vec![b'x'; MAX_FILE_BYTES as usize + 1],
        )
        .unwrap();
        std::fs::write(dir.path().join("ok"), vec![b'y'; MAX_FILE_BYTES as usize]).unwrap();
        let providers = ConfigProviders::new(vec![dir.path().to_path_buf()], None).unwrap();
        let big = format!("${{file:{}}}", dir.path().join("big").display());
        assert!(one(&providers, &big).unwrap_err().contains("larger than"));
        let ok = format!("${{file:{}}}", dir.path().join("ok").display());
        assert_eq!(one(&providers, &ok).unwrap().len(), MAX_FILE_BYTES as usize);
        let many = ok.repeat(MAX_REFERENCES);
        let e = one(&providers, &many).unwrap_err();
        assert!(e.contains("more than") && e.contains("bytes"), "{e}");
        let e = one(&providers, &"${env:X}".repeat(MAX_REFERENCES + 1)).unwrap_err();
        assert!(
            e.contains("not allowed"),
            "the first refusal comes first: {e}"
        );
        let allowed = ConfigProviders::new(vec![], Some("CONNECTD_TEST_CAP")).unwrap();
        unsafe { std::env::set_var("CONNECTD_TEST_CAP", "v") };
        let e = one(
            &allowed,
            &"${env:CONNECTD_TEST_CAP}".repeat(MAX_REFERENCES + 1),
        )
        .unwrap_err();
        assert!(e.contains("references"), "{e}");
    }

    #[test]
    fn references_are_recognized_as_resolution_does() {
        assert!(has_reference("a${env:X}b"));
        assert!(has_reference("${file:/p}"));
        assert!(!has_reference("t-${field}"));
        assert!(!has_reference("${unterminated"));
        assert!(has_reference("${x}${env:Y}"));
    }

    #[test]
    fn secrets_are_hidden_in_every_form_a_message_quotes() {
        let secrets = Secrets::new(vec![
            "first-line\nsecond-line".into(),
            "quote\"secret".into(),
            "5000".into(),
            "Long-5000-Secret".into(),
            "abc".into(),
        ]);
        for (text, hidden) in [
            ("topic \"first-line\\nsecond-line\"", "first-line"),
            ("raw first-line\nsecond-line", "second-line"),
            ("debug \"quote\\\"secret\"", "quote"),
            ("nested Long-5000-Secret!", "Long-"),
        ] {
            let out = secrets.redact(text);
            assert!(!out.contains(hidden), "{text} -> {out}");
        }
        assert_eq!(secrets.redact("abc"), "abc", "short values are left alone");
    }

    #[test]
    fn secrets_are_redacted() {
        let raw = BTreeMap::from([(
            "url".to_string(),
            "db://me:${env:CONNECTD_TEST_REDACT}@h".to_string(),
        )]);
        unsafe { std::env::set_var("CONNECTD_TEST_REDACT", "pa55word") };
        let providers = ConfigProviders::new(vec![], Some("CONNECTD_TEST_REDACT")).unwrap();
        let (values, secrets) = providers.resolve(&raw).unwrap();
        assert_eq!(values["url"], "db://me:pa55word@h");
        assert_eq!(
            secrets.redact("login failed for db://me:pa55word@h"),
            "login failed for db://me:[hidden]@h"
        );
    }
}
