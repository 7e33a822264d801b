//! Checks a connector's config against the JSON Schema (draft 2020-12) its plugin describes,
//! before any task opens: a wrong config fails the connector with every problem named (the
//! file, the key, what was expected) instead of failing inside the plugin, one key at a time.
//! The REST API's validate endpoint uses the same check.
//!
//! Config values arrive as strings (the WIT `config` type); a key the schema types as
//! `integer`, `number`, `boolean`, `array` or `object` is parsed as that type first, so
//! `rate = "fast"` is reported as not a number. Values are never echoed back: they may hold
//! secrets resolved from `${env:}` or `${file:}`.

use std::path::Path;

use serde_json::{Map, Value};

/// One problem with one key (or with the whole config, `key` empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The key, as written in the connector file.
    pub key: String,
    /// What was expected.
    pub expected: String,
}

/// The problems of `pairs` under `schema`; empty when the config is valid. `prefix` is put
/// before each key (`transforms.<alias>.` for a transform's keys).
pub fn check(
    schema: &str,
    pairs: &[(String, String)],
    prefix: &str,
) -> Result<Vec<ConfigProblem>, String> {
    let schema: Value = serde_json::from_str(schema)
        .map_err(|e| format!("the plugin's config schema is not JSON: {e}"))?;
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| format!("the plugin's config schema is not a valid JSON Schema: {e}"))?;
    let properties = schema.get("properties").and_then(Value::as_object);
    let mut instance = Map::new();
    for (key, raw) in pairs {
        let declared = properties
            .and_then(|p| p.get(key))
            .and_then(|s| s.get("type"))
            .and_then(Value::as_str);
        instance.insert(key.clone(), typed(declared, raw));
    }
    let instance = Value::Object(instance);
    let mut problems: Vec<ConfigProblem> = validator
        .iter_errors(&instance)
        .map(|e| problem(&e, prefix))
        .collect();
    problems.sort_by(|a, b| a.key.cmp(&b.key));
    problems.dedup();
    Ok(problems)
}

/// The problems as one message naming the file and every key.
pub fn message(file: &Path, problems: &[ConfigProblem]) -> String {
    let each: Vec<String> = problems
        .iter()
        .map(|p| {
            if p.key.is_empty() {
                p.expected.clone()
            } else {
                format!("key `{}`: {}", p.key, p.expected)
            }
        })
        .collect();
    format!("{}: invalid config: {}", file.display(), each.join("; "))
}

/// A config string as the JSON type the schema declares, when it parses as one.
fn typed(declared: Option<&str>, raw: &str) -> Value {
    let parsed = match declared {
        Some("integer") => raw.trim().parse::<i64>().ok().map(Value::from),
        Some("number") => raw
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        Some("boolean") => raw.trim().parse::<bool>().ok().map(Value::Bool),
        Some("array" | "object") => serde_json::from_str(raw).ok(),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::String(raw.to_string()))
}

/// One validation error as a key and what was expected, without the value itself.
fn problem(e: &jsonschema::ValidationError<'_>, prefix: &str) -> ConfigProblem {
    use jsonschema::error::ValidationErrorKind as K;
    let path = e.instance_path().to_string();
    let key = path
        .strip_prefix('/')
        .unwrap_or(&path)
        .split('/')
        .next()
        .unwrap_or_default()
        .replace("~1", "/")
        .replace("~0", "~");
    let (key, expected) = match e.kind() {
        K::Required { property } => (
            property.as_str().unwrap_or_default().to_string(),
            "missing; the plugin requires it".to_string(),
        ),
        K::Type { kind } => (key, format!("expected {}", type_name(kind))),
        K::Minimum { limit } => (key, format!("expected at least {limit}")),
        K::Maximum { limit } => (key, format!("expected at most {limit}")),
        K::ExclusiveMinimum { limit } => (key, format!("expected more than {limit}")),
        K::ExclusiveMaximum { limit } => (key, format!("expected less than {limit}")),
        K::Enum { options } => (key, format!("expected one of {options}")),
        K::Pattern { pattern } => (key, format!("expected to match the pattern {pattern}")),
        K::MinLength { limit } => (key, format!("expected at least {limit} characters")),
        K::MaxLength { limit } => (key, format!("expected at most {limit} characters")),
        K::AdditionalProperties { unexpected } => (
            unexpected.first().cloned().unwrap_or_default(),
            "not a key this plugin knows".to_string(),
        ),
        _ => (
            key,
            format!(
                "does not satisfy the plugin's config schema ({})",
                e.schema_path()
            ),
        ),
    };
    ConfigProblem {
        key: if key.is_empty() {
            key
        } else {
            format!("{prefix}{key}")
        },
        expected,
    }
}

fn type_name(kind: &jsonschema::error::TypeKind) -> String {
    use jsonschema::error::TypeKind;
    match kind {
        TypeKind::Single(t) => article(&t.to_string()),
        TypeKind::Multiple(ts) => {
            let names: Vec<String> = ts.iter().map(|t| article(&t.to_string())).collect();
            names.join(" or ")
        }
    }
}

fn article(t: &str) -> String {
    match t {
        "integer" => "an integer".into(),
        "object" => "an object".into(),
        "array" => "an array".into(),
        other => format!("a {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"{"type":"object","required":["topic","file"],"properties":{
        "topic":{"type":"string"},"file":{"type":"string"},
        "rate":{"type":"number","minimum":0},"batch.size":{"type":"integer","minimum":1},
        "print.key":{"type":"boolean"},"action":{"enum":["keep","drop"]}}}"#;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_valid_config_has_no_problem_and_strings_are_typed_first() {
        let ok = pairs(&[
            ("topic", "t"),
            ("file", "f"),
            ("rate", "2.5"),
            ("batch.size", "10"),
            ("print.key", "true"),
            ("action", "drop"),
            ("undeclared", "anything"),
        ]);
        assert_eq!(check(SCHEMA, &ok, "").unwrap(), []);
    }

    #[test]
    fn every_problem_names_its_key_and_what_was_expected() {
        let bad = pairs(&[
            ("topic", "t"),
            ("rate", "secret-fast"),
            ("batch.size", "0"),
            ("print.key", "yes"),
            ("action", "maybe"),
        ]);
        let problems = check(SCHEMA, &bad, "").unwrap();
        let found = |key: &str, expected: &str| {
            problems
                .iter()
                .any(|p| p.key == key && p.expected.contains(expected))
        };
        assert!(found("file", "missing"), "{problems:?}");
        assert!(found("rate", "a number"), "{problems:?}");
        assert!(found("batch.size", "at least 1"), "{problems:?}");
        assert!(found("print.key", "a boolean"), "{problems:?}");
        assert!(found("action", "one of"), "{problems:?}");
        let text = message(Path::new("c.toml"), &problems);
        assert!(text.starts_with("c.toml: invalid config: "), "{text}");
        assert!(
            !text.contains("secret-fast"),
            "values stay out of messages: {text}"
        );
        let prefixed = check(SCHEMA, &pairs(&[("topic", "t")]), "transforms.x.").unwrap();
        assert_eq!(prefixed[0].key, "transforms.x.file");
    }

    #[test]
    fn a_broken_schema_is_the_plugin_s_fault() {
        let err = check("{not json", &[], "").unwrap_err();
        assert!(err.contains("not JSON"), "{err}");
        let err = check(r#"{"type": 5}"#, &[], "").unwrap_err();
        assert!(err.contains("not a valid JSON Schema"), "{err}");
    }
}
