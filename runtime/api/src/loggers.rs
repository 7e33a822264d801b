//! Log levels while the worker runs, as Kafka Connect's `/admin/loggers` changes log4j's: a
//! logger is a `tracing` target (a module path such as `connectd_worker::tasks::source`), `root` is
//! the default. Levels are log4j's names: TRACE, DEBUG, INFO, WARN, ERROR, OFF (FATAL is
//! ERROR).

use std::collections::BTreeMap;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// Installs a new filter (a `tracing_subscriber::reload` handle's `reload`).
type Reload = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

/// The root logger's name.
pub const ROOT: &str = "root";

/// The live log filter and the levels set so far.
pub struct Loggers {
    reload: Reload,
    /// logger -> level (log4j's spelling); `root` always present.
    levels: Mutex<BTreeMap<String, String>>,
}

fn parse_level(level: &str) -> Option<&'static str> {
    Some(match level.to_ascii_uppercase().as_str() {
        "TRACE" => "TRACE",
        "DEBUG" => "DEBUG",
        "INFO" => "INFO",
        "WARN" => "WARN",
        "ERROR" | "FATAL" => "ERROR",
        "OFF" => "OFF",
        _ => return None,
    })
}

impl Loggers {
    /// Levels applied through `reload`, starting with `root` at `root_level`.
    pub fn new(
        reload: impl Fn(EnvFilter) -> Result<(), String> + Send + Sync + 'static,
        root_level: &str,
    ) -> Self {
        let root = parse_level(root_level).unwrap_or("INFO");
        Loggers {
            reload: Box::new(reload),
            levels: Mutex::new(BTreeMap::from([(ROOT.to_string(), root.to_string())])),
        }
    }

    /// Every logger with a level set, and its level.
    pub fn levels(&self) -> BTreeMap<String, String> {
        self.levels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sets `logger`'s level (and, for `root`, the default); returns the loggers it changed.
    pub fn set(&self, logger: &str, level: &str) -> Result<Vec<String>, String> {
        let level = parse_level(level).ok_or_else(|| {
            format!("level {level:?}: expected one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL, OFF")
        })?;
        if logger.is_empty()
            || !logger
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-'))
        {
            return Err(format!(
                "logger {logger:?}: expected a module path such as connectd_worker::tasks::source, or root"
            ));
        }
        // Kafka's dotted names map onto Rust's module paths.
        let target = logger.replace('.', "::");
        let mut levels = self.levels.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = levels.clone();
        let name = if logger == ROOT {
            ROOT
        } else {
            target.as_str()
        };
        next.insert(name.to_string(), level.to_string());
        let directives: Vec<String> = next
            .iter()
            .map(|(logger, level)| match logger.as_str() {
                ROOT => level.to_lowercase(),
                target => format!("{target}={}", level.to_lowercase()),
            })
            .collect();
        let filter = EnvFilter::try_new(directives.join(",")).map_err(|e| e.to_string())?;
        (self.reload)(filter).map_err(|e| format!("applying the new levels: {e}"))?;
        *levels = next;
        Ok(vec![name.to_string()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn levels_become_one_filter() {
        let applied = Arc::new(Mutex::new(Vec::new()));
        let seen = applied.clone();
        let loggers = Loggers::new(
            move |f| {
                seen.lock().unwrap().push(f.to_string());
                Ok(())
            },
            "info",
        );
        assert_eq!(
            loggers
                .set("connectd_worker.tasks.source", "debug")
                .unwrap(),
            ["connectd_worker::tasks::source"]
        );
        loggers.set("root", "WARN").unwrap();
        assert_eq!(
            applied.lock().unwrap().last().unwrap(),
            "connectd_worker::tasks::source=debug,warn"
        );
        assert_eq!(loggers.levels()["root"], "WARN");
        assert!(loggers.set("x", "LOUD").unwrap_err().contains("LOUD"));
        assert!(loggers.set("a b", "INFO").unwrap_err().contains("a b"));
    }
}
