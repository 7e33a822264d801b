//! How one value's text becomes a typed value.

use crate::ValueType;

/// A type a config key's value parses into. Enums get it from `#[derive(Configurable)]`.
pub trait ConfigValue: Sized {
    /// How the value is written.
    const TYPE: ValueType;

    /// The value of `text`, or what was expected.
    fn parse(text: &str) -> Result<Self, String>;

    /// The value as a number, for bounds.
    fn as_f64(&self) -> Option<f64> {
        None
    }
}

impl ConfigValue for String {
    const TYPE: ValueType = ValueType::String;

    fn parse(text: &str) -> Result<Self, String> {
        Ok(text.to_string())
    }
}

impl ConfigValue for bool {
    const TYPE: ValueType = ValueType::Boolean;

    fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("expected a boolean (true or false)".into()),
        }
    }
}

impl ConfigValue for f64 {
    const TYPE: ValueType = ValueType::Number;

    fn parse(text: &str) -> Result<Self, String> {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .ok_or_else(|| "expected a number".into())
    }

    fn as_f64(&self) -> Option<f64> {
        Some(*self)
    }
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl ConfigValue for $t {
            const TYPE: ValueType = ValueType::Integer;

            fn parse(text: &str) -> Result<Self, String> {
                let text = text.trim();
                text.parse::<$t>().map_err(|_| match text.parse::<i128>() {
                    Ok(_) => format!(
                        "expected an integer from {} to {}",
                        <$t>::MIN,
                        <$t>::MAX
                    ),
                    Err(_) => "expected an integer".to_string(),
                })
            }

            fn as_f64(&self) -> Option<f64> {
                Some(*self as f64)
            }
        }
    )*};
}

integers!(u8, u16, u32, u64, usize, i32, i64);

/// Comma-separated names, trimmed, empty ones dropped (Kafka Connect's `LIST`).
impl ConfigValue for Vec<String> {
    const TYPE: ValueType = ValueType::List;

    fn parse(text: &str) -> Result<Self, String> {
        Ok(comma_list(text))
    }
}

/// `text` split at commas, trimmed, empty names dropped.
pub fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
