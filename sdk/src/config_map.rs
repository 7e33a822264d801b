//! Connector configuration as the host hands it over: string keys and values.

use crate::ConnectorError;

/// A connector's config (the keys of its config file, secrets already resolved).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pairs: Vec<(String, String)>,
}

impl Config {
    /// Builds a config from pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Config {
            pairs: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Which task of the connector's `tasks.max` this is, from 0: the worker sets `task.id`
    /// in every task's config (0 when absent, as in a test).
    pub fn task_id(&self) -> u32 {
        self.get("task.id")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0)
    }

    /// How many tasks the connector runs (`tasks.max`, which the worker sets; 1 when absent),
    /// for a connector that splits its work between them.
    pub fn tasks_max(&self) -> u32 {
        self.get("tasks.max")
            .and_then(|t| t.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(1)
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key`, or an `invalid-config` error naming it.
    pub fn required(&self, key: &str) -> Result<&str, ConnectorError> {
        self.get(key)
            .ok_or_else(|| ConnectorError::InvalidConfig(format!("missing required key `{key}`")))
    }

    /// `key` parsed as `T`, `default` when unset, or an `invalid-config` error naming the key.
    pub fn parse_or<T: std::str::FromStr>(
        &self,
        key: &str,
        default: T,
    ) -> Result<T, ConnectorError> {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|_| {
                ConnectorError::InvalidConfig(format!(
                    "key `{key}`: cannot parse {raw:?} as {}",
                    std::any::type_name::<T>()
                ))
            }),
        }
    }

    /// The config as the struct `T` declares it (`#[derive(Configurable)]`): every key
    /// parsed, defaults applied, bounds and choices checked, and every problem reported at
    /// once as an `invalid-config` error naming the keys.
    pub fn parse<T: connectd_config::Configurable>(&self) -> Result<T, ConnectorError> {
        T::from_pairs(&self.pairs)
            .map_err(|problems| ConnectorError::InvalidConfig(problems.to_string()))
    }

    /// Every pair.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_key() {
        let c = Config::from_pairs([("batch.size", "lots")]);
        let e = c.parse_or("batch.size", 10u32).unwrap_err();
        assert!(e.to_string().contains("batch.size"), "{e}");
        assert!(
            c.required("file")
                .unwrap_err()
                .to_string()
                .contains("`file`")
        );
    }
}
