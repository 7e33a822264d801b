//! A config schema as the Markdown table of its keys: what `connectd plugins describe` prints
//! and what the README holds for every built-in plugin (a test checks they match). The
//! schema is the one a plugin describes itself with, so this works for any plugin, and for
//! ours it comes from the one `#[derive(Configurable)]` declaration of its keys.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

/// The parts of a schema the table shows, keys in the order the plugin declares them (a
/// `serde_json::Value` object would sort them).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Schema {
    required: Vec<String>,
    properties: IndexMap<String, Value>,
    #[serde(rename = "patternProperties")]
    pattern_properties: IndexMap<String, Value>,
}

/// One cell's text: pipes escaped, so the table keeps its columns.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// A default as the table shows it.
fn default_text(spec: &Value, required: bool) -> String {
    if required {
        return "required".into();
    }
    if let Some(text) = spec.get("x-connectd-default-doc").and_then(Value::as_str) {
        return text.into();
    }
    match spec.get("default") {
        Some(Value::String(s)) => format!("`{s}`"),
        Some(other) => format!("`{other}`"),
        None => String::new(),
    }
}

/// The keys of `schema` (a JSON Schema with `properties`, and `patternProperties` for key
/// families) as a Markdown table: key, default, meaning.
pub fn markdown(schema: &str) -> Result<String, serde_json::Error> {
    let schema: Schema = serde_json::from_str(schema)?;
    let mut out = String::from("| key | default | meaning |\n| --- | --- | --- |\n");
    let families = schema.pattern_properties.iter().map(|(k, v)| (k, v, true));
    for (key, spec, family) in schema
        .properties
        .iter()
        .map(|(k, v)| (k, v, false))
        .chain(families)
    {
        let shown = spec
            .get("x-connectd-key")
            .and_then(Value::as_str)
            .unwrap_or(key);
        let required = !family && schema.required.iter().any(|r| r == key);
        let meaning = spec
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            cell(shown),
            cell(&default_text(spec, required)),
            cell(meaning)
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_schema_in_order_with_defaults_and_families() {
        let schema = r#"{"type":"object","required":["file"],"properties":{
            "file":{"type":"string","description":"The file | or pipe."},
            "batch.size":{"type":"integer","default":1000,"description":"Most lines."},
            "action":{"enum":["keep","drop"],"default":"keep"},
            "region":{"type":"string","x-connectd-default-doc":"AWS_REGION"}},
            "patternProperties":{"^hdfs\\.":{"type":"string","x-connectd-key":"hdfs.<key>","description":"Hadoop."}}}"#;
        assert_eq!(
            markdown(schema).unwrap(),
            "| key | default | meaning |\n| --- | --- | --- |\n\
             | `file` | required | The file \\| or pipe. |\n\
             | `batch.size` | `1000` | Most lines. |\n\
             | `action` | `keep` |  |\n\
             | `region` | AWS_REGION |  |\n\
             | `hdfs.<key>` |  | Hadoop. |\n"
        );
    }
}
