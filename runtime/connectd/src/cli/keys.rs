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

/// One cell's text: pipes escaped and control characters (line breaks, terminal escapes) made
/// spaces, so the table keeps its rows and columns and a plugin's text cannot drive the
/// terminal it is printed on.
fn cell(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace('|', "\\|")
}

/// What a key's value grants the plugin, as a sentence, if anything: written from the grant
/// itself, so a plugin's docs need not repeat it.
fn granted(spec: &Value) -> Option<String> {
    let name = spec.get("x-connectd-grant")?.as_str()?;
    Some(match connectd_config::Grant::from_name(name) {
        Some(grant) => grant.describe().to_string(),
        None => format!("`{name}`, which this worker does not know and does not grant"),
    })
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
pub fn markdown(schema_text: &str) -> Result<String, serde_json::Error> {
    let schema: Schema = serde_json::from_str(schema_text)?;
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
        let mut meaning = spec
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if let Some(grant) = granted(spec) {
            meaning = format!("{meaning} Granted: {grant}, and nothing else.")
                .trim()
                .to_string();
        }
        if spec.get("x-connectd-secret") == Some(&Value::Bool(true)) {
            meaning = format!("{meaning} Secret: takes `${{env:}}`/`${{file:}}` references even in a connector created through the REST API.")
                .trim()
                .to_string();
        }
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            cell(shown),
            cell(&default_text(spec, required)),
            cell(&meaning)
        ));
    }
    if let Some(grant) = granted(&serde_json::from_str(schema_text)?) {
        out.push_str(&format!(
            "\nGranted to the plugin as a whole: {}.\n",
            cell(&grant)
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

    #[test]
    fn grants_are_named_and_a_plugins_text_cannot_break_rows_or_drive_the_terminal() {
        let schema = r#"{"type":"object","x-connectd-grant":"stdout","properties":{
            "file":{"type":"string","description":"Where.\n| fake | row |\u001b]52;c;x\u0007","x-connectd-grant":"write-parent"}}}"#;
        let table = markdown(schema).unwrap();
        assert_eq!(
            table,
            "| key | default | meaning |\n| --- | --- | --- |\n\
             | `file` |  | Where. \\| fake \\| row \\| ]52;c;x  Granted: read-write access to the folder of the file it names, and nothing else. |\n\
             \nGranted to the plugin as a whole: the worker's standard output.\n"
        );
        assert!(!table.chars().any(|c| c.is_control() && c != '\n'));
    }
}
