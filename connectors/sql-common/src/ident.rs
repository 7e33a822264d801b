//! Identifiers, always quoted: a table or column name from a config or a record reaches SQL
//! only through [`quote`], so no name can end the identifier and start SQL of its own.

use crate::Dialect;

/// The longest identifier each database takes, in bytes (PostgreSQL would silently cut a
/// longer one, which could make two names one).
fn max_len(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Postgres => 63,
        Dialect::MySql => 64,
        Dialect::Sqlite => 1024,
    }
}

/// `name` quoted for `dialect` (`"a ""b"""`, or `` `a ``b` `` for MySQL), or why it cannot be a
/// name: empty, too long, or holding a NUL.
pub fn quote(dialect: Dialect, name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("an empty name is not an identifier".into());
    }
    if name.contains('\0') {
        return Err(format!(
            "{name:?} holds a NUL character, which no identifier may"
        ));
    }
    if name.len() > max_len(dialect) {
        return Err(format!(
            "{name:?} is {} bytes long; {dialect:?} takes identifiers of at most {}",
            name.len(),
            max_len(dialect)
        ));
    }
    let q = if dialect == Dialect::MySql { '`' } else { '"' };
    let mut out = String::with_capacity(name.len() + 2);
    out.push(q);
    for c in name.chars() {
        if c == q {
            out.push(q);
        }
        out.push(c);
    }
    out.push(q);
    Ok(out)
}

/// The `n`th parameter placeholder (1-based): `$n` for PostgreSQL, `?` for the others.
pub fn placeholder(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Postgres => format!("${n}"),
        _ => "?".into(),
    }
}

/// The most parameters one statement may bind (PostgreSQL and MySQL: 65535; SQLite: 32766).
pub fn max_params(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Sqlite => 32_766,
        _ => 65_535,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_and_their_quotes_doubled() {
        assert_eq!(
            quote(Dialect::Postgres, "Order Items").unwrap(),
            "\"Order Items\""
        );
        assert_eq!(
            quote(Dialect::Postgres, "x\"; DROP TABLE t; --").unwrap(),
            "\"x\"\"; DROP TABLE t; --\""
        );
        assert_eq!(quote(Dialect::MySql, "a`b\"c").unwrap(), "`a``b\"c`");
        assert_eq!(quote(Dialect::Sqlite, "it's").unwrap(), "\"it's\"");
        assert!(quote(Dialect::Postgres, "").is_err());
        assert!(quote(Dialect::MySql, "a\0b").is_err());
        assert!(
            quote(Dialect::Postgres, &"x".repeat(64))
                .unwrap_err()
                .contains("at most 63")
        );
        assert_eq!(placeholder(Dialect::Postgres, 3), "$3");
        assert_eq!(placeholder(Dialect::MySql, 3), "?");
    }
}
