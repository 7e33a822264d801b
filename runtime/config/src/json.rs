//! A declaration as JSON Schema text. Written by hand: guests link this crate, and a schema
//! is a few keys, so a JSON library in every plugin would be all cost.

use crate::{Declaration, Key, ValueType};

/// `text` as a JSON string literal.
fn string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A list of strings as a JSON array.
fn strings<'a>(out: &mut String, items: impl IntoIterator<Item = &'a str>) {
    out.push('[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, item);
    }
    out.push(']');
}

/// The schema of one key's value.
fn property(out: &mut String, key: &Key) {
    out.push('{');
    match key.value_type {
        ValueType::Choice(names) => {
            out.push_str("\"enum\":");
            strings(out, names.iter().copied());
        }
        other => {
            let name = match other {
                ValueType::Integer => "integer",
                ValueType::Number => "number",
                ValueType::Boolean => "boolean",
                _ => "string",
            };
            out.push_str("\"type\":");
            string(out, name);
        }
    }
    if let Some(min) = key.minimum {
        out.push_str(",\"minimum\":");
        out.push_str(min);
    }
    if let Some(max) = key.maximum {
        out.push_str(",\"maximum\":");
        out.push_str(max);
    }
    if let Some(default) = key.default {
        out.push_str(",\"default\":");
        match key.value_type {
            ValueType::Integer | ValueType::Number | ValueType::Boolean => out.push_str(default),
            _ => string(out, default),
        }
    }
    if let Some(text) = key.default_doc {
        out.push_str(",\"x-connectd-default-doc\":");
        string(out, text);
    }
    if let Some(name) = key.doc_name {
        out.push_str(",\"x-connectd-key\":");
        string(out, name);
    }
    if let Some(grant) = key.grant {
        out.push_str(",\"x-connectd-grant\":");
        string(out, grant.name());
    }
    if key.secret {
        out.push_str(",\"x-connectd-secret\":true");
    }
    if !key.doc.is_empty() {
        out.push_str(",\"description\":");
        string(out, &key.doc);
    }
    out.push('}');
}

/// A prefix as an anchored regular expression.
fn prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::from("^");
    for c in prefix.chars() {
        if !c.is_ascii_alphanumeric() && c != '_' && c != '-' {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

/// The JSON Schema of a config satisfying `declaration`.
pub fn schema(declaration: &Declaration) -> String {
    let mut out = String::from("{\"type\":\"object\"");
    let required: Vec<&str> = declaration
        .keys
        .iter()
        .filter(|k| k.required && !k.prefix)
        .map(|k| k.name)
        .collect();
    if !required.is_empty() {
        out.push_str(",\"required\":");
        strings(&mut out, required);
    }
    if let Some(grant) = declaration.grants.first() {
        out.push_str(",\"x-connectd-grant\":");
        string(&mut out, grant.name());
    }
    for (section, prefixed) in [("properties", false), ("patternProperties", true)] {
        let keys: Vec<&Key> = declaration
            .keys
            .iter()
            .filter(|k| k.prefix == prefixed)
            .collect();
        if keys.is_empty() && prefixed {
            continue;
        }
        out.push_str(",\"");
        out.push_str(section);
        out.push_str("\":{");
        for (i, key) in keys.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            if prefixed {
                string(&mut out, &prefix_pattern(key.name));
            } else {
                string(&mut out, key.name);
            }
            out.push(':');
            property(&mut out, key);
        }
        out.push('}');
    }
    if declaration.deny_unknown_keys {
        out.push_str(",\"additionalProperties\":false");
    }
    out.push('}');
    out
}
