//! Checks a connector's config against the JSON Schema its plugin describes, before any task
//! opens: a wrong config fails the connector with every problem named (the file, the key, what
//! was expected) instead of failing inside the plugin, one key at a time. The REST API's
//! validate endpoint uses the same check.
//!
//! Config values arrive as strings (the WIT `config` type); a key the schema types as
//! `integer`, `number`, `boolean`, `array` or `object` is parsed as that type first, so
//! `rate = "fast"` is reported as not a number. Values are never echoed back: they may hold
//! secrets resolved from `${env:}` or `${file:}`. A value that holds such a reference is
//! checked only once it is resolved, when the connector starts.
//!
//! The keywords checked are the ones a flat config map can use, and all that
//! `#[derive(Configurable)]` writes: `required`, `properties` and `patternProperties` (a
//! pattern `^prefix`, the form the derive writes for a family of keys), `additionalProperties:
//! false`, and per key `type`, `enum`, `minimum`, `maximum`, `exclusiveMinimum`,
//! `exclusiveMaximum`, `minLength` and `maxLength`. A plugin whose hand-written schema uses
//! more (a `pattern`, `oneOf`) has those parts checked by its own parser when a task opens,
//! which names the key too. Written here rather than taken from a JSON Schema crate: the
//! general validator (with its two regex engines) was the largest library in a binary that
//! must stay small, and checked nothing more for the schemas plugins have.

use serde_json::{Map, Value};

use super::secrets::has_reference;

pub use connectd_config::Problem as ConfigProblem;

/// The problems of `pairs` under `schema`; empty when the config is valid. `prefix` is put
/// before each key (`transforms.<alias>.` for a transform's keys). `Err` when the schema is
/// not one (the plugin's fault).
pub fn check(
    schema: &str,
    pairs: &[(String, String)],
    prefix: &str,
) -> Result<Vec<ConfigProblem>, String> {
    let schema = parse(schema)?;
    let schema = Schema::read(&schema)?;
    let mut problems = Vec::new();
    let mut problem = |key: &str, expected: String| {
        problems.push(ConfigProblem::new(format!("{prefix}{key}"), expected));
    };
    for key in schema.required.iter().copied() {
        if !pairs.iter().any(|(k, _)| k == key) {
            problem(key, "missing; the plugin requires it".into());
        }
    }
    for (key, raw) in pairs {
        let mut specs = schema.specs(key).peekable();
        if specs.peek().is_none() {
            if schema.closed {
                problem(key, "not a key this plugin knows".into());
            }
            continue;
        }
        if has_reference(raw) {
            continue; // checked once resolved, when the connector starts
        }
        if let Some(expected) = specs.find_map(|spec| value_problem(spec, raw)) {
            problem(key, expected);
        }
    }
    problems.sort();
    problems.dedup();
    Ok(problems)
}

/// The keys of `pairs` that hold a `${...}` reference though `schema` does not mark them
/// secret (`x-connectd-secret`), as problems. A connector created through the REST API may
/// reference secrets only where they go to the plugin as secrets: otherwise whoever holds the
/// API's token could read any allowed secret back, copied into records by a transform, or
/// into a topic's name.
pub fn references_outside_secrets(
    schema: &str,
    pairs: &[(String, String)],
    prefix: &str,
) -> Result<Vec<ConfigProblem>, String> {
    let schema = parse(schema)?;
    let schema = Schema::read(&schema)?;
    let secret = |spec: &Value| spec.get("x-connectd-secret") == Some(&Value::Bool(true));
    Ok(pairs
        .iter()
        .filter(|(_, raw)| has_reference(raw))
        .filter(|(key, _)| !schema.specs(key).any(secret))
        .map(|(key, _)| {
            ConfigProblem::new(
                format!("{prefix}{key}"),
                "takes no ${...} reference in a connector created through the REST API: only a key its plugin marks secret (a password, a key, a URL that holds one) does".to_string(),
            )
        })
        .collect())
}

/// The problems as one message naming where the config comes from and every key.
pub fn message(origin: &dyn std::fmt::Display, problems: &[ConfigProblem]) -> String {
    let problems = connectd_config::Problems(problems.to_vec());
    format!("{origin}: invalid config: {problems}")
}

/// A `patternProperties` pattern: `^literal` is a prefix. Any other pattern is left to the
/// plugin's parser: it checks no value, and makes no key unknown.
enum Pattern {
    Prefix(String),
    Other,
}

impl Pattern {
    fn new(pattern: &str) -> Pattern {
        let Some(rest) = pattern.strip_prefix('^') else {
            return Pattern::Other;
        };
        let mut literal = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(escaped) if !escaped.is_ascii_alphanumeric() => literal.push(escaped),
                    _ => return Pattern::Other,
                },
                c if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' ' | '<' | '>') => {
                    literal.push(c)
                }
                _ => return Pattern::Other,
            }
        }
        Pattern::Prefix(literal)
    }

    fn matches(&self, key: &str) -> bool {
        match self {
            Pattern::Prefix(p) => key.starts_with(p.as_str()),
            Pattern::Other => false,
        }
    }
}

/// The parts of a schema the check reads, their shapes checked.
struct Schema<'a> {
    required: Vec<&'a str>,
    properties: Map<String, Value>,
    families: Vec<(Pattern, &'a Value)>,
    /// `additionalProperties: false`, with every pattern readable.
    closed: bool,
}

/// A plugin's config schema as JSON.
fn parse(schema: &str) -> Result<Value, String> {
    serde_json::from_str(schema).map_err(|e| format!("the plugin's config schema is not JSON: {e}"))
}

impl<'a> Schema<'a> {
    /// The specs that apply to `key`: its own, and those of the families it belongs to.
    fn specs<'s>(&'s self, key: &'s str) -> impl Iterator<Item = &'s Value> {
        let families = self.families.iter().filter(|(p, _)| p.matches(key));
        self.properties
            .get(key)
            .into_iter()
            .chain(families.map(|(_, spec)| *spec))
    }

    fn read(schema: &'a Value) -> Result<Schema<'a>, String> {
        Self::read_inner(schema)
            .map_err(|e| format!("the plugin's config schema is not a valid JSON Schema: {e}"))
    }

    fn read_inner(schema: &'a Value) -> Result<Schema<'a>, String> {
        let root = schema.as_object().ok_or("the schema is not an object")?;
        check_spec("the schema", schema)?;
        let required = match root.get("required") {
            None => Vec::new(),
            Some(r) => r
                .as_array()
                .and_then(|r| r.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
                .ok_or("`required` is not a list of names")?,
        };
        let object = |name: &str| -> Result<Map<String, Value>, String> {
            let Some(value) = root.get(name) else {
                return Ok(Map::new());
            };
            let map = value
                .as_object()
                .ok_or(format!("`{name}` is not an object"))?;
            for (key, spec) in map {
                check_spec(key, spec)?;
            }
            Ok(map.clone())
        };
        let properties = object("properties")?;
        object("patternProperties")?;
        let families: Vec<(Pattern, &Value)> = root
            .get("patternProperties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(pattern, spec)| (Pattern::new(pattern), spec))
            .collect();
        let closed = match root.get("additionalProperties") {
            None | Some(Value::Bool(true)) | Some(Value::Object(_)) => false,
            Some(Value::Bool(false)) => true,
            Some(_) => return Err("`additionalProperties` is not a boolean or a schema".into()),
        };
        // A pattern this check cannot read might match any key: none is refused as unknown.
        let closed = closed && !families.iter().any(|(p, _)| matches!(p, Pattern::Other));
        Ok(Schema {
            required,
            properties,
            families,
            closed,
        })
    }
}

const TYPES: &[&str] = &[
    "string", "integer", "number", "boolean", "array", "object", "null",
];

/// Checks the shape of the keywords a key's schema uses.
fn check_spec(key: &str, spec: &Value) -> Result<(), String> {
    let Some(spec) = spec.as_object() else {
        return Err(format!("the schema of `{key}` is not an object"));
    };
    match spec.get("type") {
        None => {}
        Some(Value::String(t)) if TYPES.contains(&t.as_str()) => {}
        Some(Value::Array(ts))
            if ts
                .iter()
                .all(|t| t.as_str().is_some_and(|t| TYPES.contains(&t))) => {}
        Some(_) => return Err(format!("`type` of `{key}` is not a JSON type name")),
    }
    if spec.get("enum").is_some_and(|e| !e.is_array()) {
        return Err(format!("`enum` of `{key}` is not a list"));
    }
    for bound in [
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
    ] {
        if spec.get(bound).is_some_and(|b| !b.is_number()) {
            return Err(format!("`{bound}` of `{key}` is not a number"));
        }
    }
    Ok(())
}

/// A numeric bound: its keyword, its words in a message, and whether a value passes it.
type Bound = (&'static str, &'static str, fn(f64, f64) -> bool);

/// What is wrong with one value under its key's schema, if anything.
fn value_problem(spec: &Value, raw: &str) -> Option<String> {
    let types: Vec<&str> = match spec.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let value = if types.is_empty() {
        Value::String(raw.to_string())
    } else {
        match types.iter().find_map(|t| typed(t, raw)) {
            Some(value) => value,
            None => {
                let names: Vec<String> = types.iter().map(|t| article(t)).collect();
                return Some(format!("expected {}", names.join(" or ")));
            }
        }
    };
    if let Some(options) = spec.get("enum").and_then(Value::as_array)
        && !options
            .iter()
            .any(|o| *o == value || o.as_str() == Some(raw))
    {
        return Some(format!("expected one of {}", Value::Array(options.clone())));
    }
    let bound = |name: &str| spec.get(name).filter(|b| b.is_number());
    if let Some(n) = value.as_f64() {
        let checks: [Bound; 4] = [
            ("minimum", "at least", |n, b| n >= b),
            ("maximum", "at most", |n, b| n <= b),
            ("exclusiveMinimum", "more than", |n, b| n > b),
            ("exclusiveMaximum", "less than", |n, b| n < b),
        ];
        for (name, words, ok) in checks {
            if let Some(b) = bound(name)
                && !ok(n, b.as_f64().unwrap_or_default())
            {
                return Some(format!("expected {words} {b}"));
            }
        }
    }
    if let Value::String(text) = &value {
        let chars = text.chars().count() as f64;
        if let Some(b) = bound("minLength").filter(|b| chars < b.as_f64().unwrap_or_default()) {
            return Some(format!("expected at least {b} characters"));
        }
        if let Some(b) = bound("maxLength").filter(|b| chars > b.as_f64().unwrap_or_default()) {
            return Some(format!("expected at most {b} characters"));
        }
    }
    None
}

/// A config string as the JSON type `declared`, when it parses as one.
fn typed(declared: &str, raw: &str) -> Option<Value> {
    match declared {
        "string" => Some(Value::String(raw.to_string())),
        "integer" => raw.trim().parse::<i64>().ok().map(Value::from),
        "number" => raw
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        "boolean" => raw.trim().parse::<bool>().ok().map(Value::Bool),
        "array" => serde_json::from_str(raw).ok().filter(Value::is_array),
        "object" => serde_json::from_str(raw).ok().filter(Value::is_object),
        _ => None,
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
        let text = message(&"c.toml", &problems);
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

    #[test]
    fn a_closed_schema_refuses_unknown_keys_but_not_its_families() {
        let closed = r#"{"type":"object","additionalProperties":false,
            "properties":{"store.url":{"type":"string","minLength":3}},
            "patternProperties":{"^hdfs\\.":{"type":"string","maxLength":3}}}"#;
        let problems = check(
            closed,
            &pairs(&[
                ("store.url", "ab"),
                ("hdfs.dfs.nameservices", "ns1"),
                ("hdfs.too.long", "ns12"),
                ("hdfsx", "1"),
            ]),
            "",
        )
        .unwrap();
        assert_eq!(
            problems,
            [
                ConfigProblem::new("hdfs.too.long", "expected at most 3 characters"),
                ConfigProblem::new("hdfsx", "not a key this plugin knows"),
                ConfigProblem::new("store.url", "expected at least 3 characters"),
            ]
        );
        // A pattern this check cannot read is left to the plugin: no key is unknown.
        let unreadable = r#"{"type":"object","additionalProperties":false,
            "patternProperties":{"^(x|y)":{"type":"integer"}}}"#;
        assert_eq!(check(unreadable, &pairs(&[("zzz", "a")]), "").unwrap(), []);
    }

    #[test]
    fn what_the_derive_writes_is_checked_as_the_derive_parses() {
        use connectd_config::Configurable;

        /// Keys.
        #[derive(Configurable)]
        #[config(deny_unknown_keys)]
        #[allow(dead_code)]
        struct Keys {
            /// A count.
            #[config(minimum = 1, maximum = 9, default = 1)]
            count: u32,
            /// A choice.
            #[config(default = "keep")]
            action: Action,
            /// A family.
            #[config(prefix = "s3.")]
            s3: Vec<(String, String)>,
        }
        #[derive(Configurable, Clone, Copy)]
        enum Action {
            Keep,
            #[config(alias = "discard")]
            Drop,
        }
        for (config, key) in [
            (&[("count", "0")][..], Some("count")),
            (&[("count", "10")][..], Some("count")),
            (&[("count", "x")][..], Some("count")),
            (&[("action", "maybe")][..], Some("action")),
            (&[("other", "1")][..], Some("other")),
            (
                &[("count", "9"), ("action", "discard"), ("s3.region", "eu")][..],
                None,
            ),
        ] {
            let pairs = pairs(config);
            let checked = check(&Keys::schema(), &pairs, "").unwrap();
            let parsed = Keys::from_pairs(&pairs).err().map(|p| p.0);
            assert_eq!(
                checked.first().map(|p| p.key.as_str()),
                key,
                "{config:?}: {checked:?}"
            );
            assert_eq!(
                parsed
                    .as_ref()
                    .and_then(|p| p.first())
                    .map(|p| p.key.as_str()),
                key,
                "{config:?}: {parsed:?}"
            );
        }
    }
}
