use crate::{Configurable, Grant, ValueType};

/// Tails a file.
#[derive(Configurable, Debug, PartialEq)]
#[config(deny_unknown_keys)]
#[grant(stdout)]
struct Tail {
    /// The file to tail,
    /// on two lines.
    #[grant(read_parent)]
    file: String,
    /// Most lines per poll.
    #[config(key = "batch.size", default = 1000, minimum = 1, maximum = 100000)]
    batch_size: u32,
    /// How long to wait.
    #[config(minimum = -1, default = -1)]
    retry_timeout: i64,
    /// A rate.
    #[config(default = 2.5, minimum = 0)]
    rate: f64,
    /// Print the key.
    #[config(key = "print.key", default = false)]
    print_key: bool,
    /// The topics.
    topics: Option<Vec<String>>,
    /// What to do.
    #[config(default = "keep")]
    action: Action,
    /// A region.
    #[config(default_doc = "AWS_REGION, else us-east-1")]
    region: Option<String>,
    /// Hadoop settings.
    #[config(prefix = "hdfs.", key = "hdfs.<key>")]
    hdfs: Vec<(String, String)>,
}

#[derive(Configurable, Debug, PartialEq, Clone, Copy)]
enum Action {
    Keep,
    #[config(alias = "discard")]
    Drop,
    #[config(name = "timestamp+incrementing")]
    Both,
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_config_parses_with_its_defaults() {
    let t = Tail::from_pairs(&pairs(&[
        ("file", "/a"),
        ("hdfs.dfs.x", "1"),
        ("task.id", "0"),
    ]))
    .unwrap();
    assert_eq!(
        t,
        Tail {
            file: "/a".into(),
            batch_size: 1000,
            retry_timeout: -1,
            rate: 2.5,
            print_key: false,
            topics: None,
            action: Action::Keep,
            region: None,
            hdfs: vec![("hdfs.dfs.x".into(), "1".into())],
        }
    );
}

#[test]
fn strings_and_typed_text_parse_alike_and_the_last_value_wins() {
    let t = Tail::from_pairs(&pairs(&[
        ("file", "/a"),
        ("batch.size", " 7 "),
        ("print.key", "true"),
        ("topics", "a, b,,c"),
        ("action", "discard"),
        ("action", "timestamp+incrementing"),
        ("rate", "0"),
    ]))
    .unwrap();
    assert_eq!(t.batch_size, 7);
    assert!(t.print_key);
    assert_eq!(t.topics.unwrap(), ["a", "b", "c"]);
    assert_eq!(t.action, Action::Both);
    assert_eq!(t.action.name(), "timestamp+incrementing");
    assert_eq!(t.rate, 0.0);
}

#[test]
fn every_problem_is_reported_naming_its_key_and_never_the_value() {
    let e = Tail::from_pairs(&pairs(&[
        ("batch.size", "0"),
        ("retry.timeout", "-2"),
        ("rate", "secret-fast"),
        ("print.key", "yes"),
        ("action", "maybe"),
        ("typo", "x"),
    ]))
    .unwrap_err();
    let text = e.to_string();
    for (key, expected) in [
        ("file", "missing"),
        ("batch.size", "at least 1"),
        ("retry.timeout", "at least -1"),
        ("rate", "a number"),
        ("print.key", "a boolean"),
        ("action", "one of keep, drop, timestamp+incrementing"),
        ("typo", "not a key this plugin knows"),
    ] {
        assert!(
            e.0.iter()
                .any(|p| p.key == key && p.expected.contains(expected)),
            "{key}: {text}"
        );
    }
    assert!(!text.contains("secret-fast"), "{text}");
    let big = Tail::from_pairs(&pairs(&[("file", "/a"), ("batch.size", "100001")])).unwrap_err();
    assert_eq!(big.to_string(), "key `batch.size`: expected at most 100000");
    let huge =
        Tail::from_pairs(&pairs(&[("file", "/a"), ("batch.size", "5000000000")])).unwrap_err();
    assert!(huge.to_string().contains("from 0 to 4294967295"), "{huge}");
}

#[test]
fn the_declaration_carries_docs_types_defaults_and_grants() {
    let d = Tail::declaration();
    let file = d.key("file").unwrap();
    assert_eq!(file.doc, "The file to tail, on two lines.");
    assert!(file.required);
    assert_eq!(file.grant, Some(Grant::ReadParent));
    let batch = d.key("batch.size").unwrap();
    assert_eq!((batch.default, batch.minimum), (Some("1000"), Some("1")));
    assert_eq!(batch.value_type, ValueType::Integer);
    assert_eq!(
        d.key("action").unwrap().value_type,
        ValueType::Choice(&["keep", "drop", "discard", "timestamp+incrementing"])
    );
    assert!(d.key("hdfs.anything").unwrap().prefix);
    assert_eq!(d.grants, [Grant::Stdout]);
}

#[test]
fn the_schema_is_json_schema_with_the_same_keys() {
    let schema = Tail::schema();
    assert!(schema.starts_with(r#"{"type":"object","required":["file"],"x-connectd-grant":"stdout","properties":{"file":{"type":"string","x-connectd-grant":"read-parent","description":"The file to tail, on two lines."},"batch.size":{"type":"integer","minimum":1,"maximum":100000,"default":1000,"#), "{schema}");
    assert!(
        schema.contains(r#""retry.timeout":{"type":"integer","minimum":-1,"default":-1,"#),
        "{schema}"
    );
    assert!(schema.contains(r#""action":{"enum":["keep","drop","discard","timestamp+incrementing"],"default":"keep","#), "{schema}");
    assert!(
        schema.contains(
            r#""region":{"type":"string","x-connectd-default-doc":"AWS_REGION, else us-east-1","#
        ),
        "{schema}"
    );
    assert!(
        schema.contains(
            r#""patternProperties":{"^hdfs\\.":{"type":"string","x-connectd-key":"hdfs.<key>","description":"Hadoop settings."}}"#
        ),
        "{schema}"
    );
    assert!(
        schema.ends_with(r#","additionalProperties":false}"#),
        "{schema}"
    );
}
