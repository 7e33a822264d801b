//! The SQL text the sink writes: multi-row inserts and upserts in each dialect's own form,
//! updates, deletes, and the DDL of `auto.create` and `auto.evolve`. Every identifier goes
//! through [`quote`]; every value is a parameter.

use connectd_sql_common::catalog::ColumnInfo;
use connectd_sql_common::ident::{placeholder, quote};
use connectd_sql_common::{Dialect, Field, Statement, Value, float_text};

/// How rows are written (`insert.mode`).
#[derive(connectd_sdk::Configurable, Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertMode {
    Insert,
    Upsert,
    Update,
}

/// A table as the statements need it: its quoted name, and each column's quoted name and
/// the PostgreSQL type its parameter is cast to.
pub struct Target<'a> {
    pub dialect: Dialect,
    pub table: &'a str,
    pub columns: &'a [ColumnInfo],
}

impl Target<'_> {
    /// The placeholder for parameter `n` of column `name`: PostgreSQL casts it to the
    /// column's type, so text, numbers and untyped nulls land in any column they convert to.
    fn param(&self, n: usize, name: &str) -> String {
        let p = placeholder(self.dialect, n);
        match self.dialect {
            Dialect::Postgres => match self.columns.iter().find(|c| c.name == name) {
                Some(c) if !c.exact_type.is_empty() => match quote(self.dialect, &c.exact_type) {
                    Ok(ty) => format!("CAST({p} AS {ty})"),
                    Err(_) => p,
                },
                _ => p,
            },
            _ => p,
        }
    }
}

fn quoted(dialect: Dialect, names: &[&str]) -> Result<Vec<String>, String> {
    names.iter().map(|n| quote(dialect, n)).collect()
}

/// One `INSERT` (or upsert) of `rows`, each with a value per column of `columns`; `keys` are
/// the primary key columns (for the upsert's conflict target).
pub fn insert(
    target: &Target,
    mode: InsertMode,
    columns: &[&str],
    keys: &[&str],
    rows: Vec<Vec<Value>>,
) -> Result<Statement, String> {
    let d = target.dialect;
    let names = quoted(d, columns)?;
    let mut sql = format!("INSERT INTO {} ({}) ", target.table, names.join(", "));
    let mut params = Vec::with_capacity(rows.len() * columns.len());
    let types: Option<Vec<&str>> = columns
        .iter()
        .map(|name| {
            target
                .columns
                .iter()
                .find(|c| c.name == *name && !c.exact_type.is_empty())
                .map(|c| c.exact_type.as_str())
        })
        .collect();
    if let (Dialect::Postgres, Some(types)) = (d, types) {
        // One array parameter a column, unnested: PostgreSQL parses one statement of a few
        // parameters instead of one with a parameter a value.
        let mut arrays: Vec<String> = vec![String::from("{"); columns.len()];
        for (r, row) in rows.into_iter().enumerate() {
            for (c, value) in row.into_iter().enumerate() {
                if r > 0 {
                    arrays[c].push(',');
                }
                array_element(&mut arrays[c], &value);
            }
        }
        let mut casts = Vec::with_capacity(columns.len());
        for (array, ty) in arrays.into_iter().zip(types) {
            params.push(Value::Text(array + "}"));
            casts.push(format!(
                "CAST({} AS {}[])",
                placeholder(d, params.len()),
                quote(d, ty)?
            ));
        }
        sql.push_str(&format!("SELECT * FROM UNNEST({})", casts.join(", ")));
        upsert_clause(&mut sql, d, mode, &names, columns, keys)?;
        return Ok(Statement::new(sql, params));
    }
    sql.push_str("VALUES ");
    for (r, row) in rows.into_iter().enumerate() {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for (c, value) in row.into_iter().enumerate() {
            if c > 0 {
                sql.push_str(", ");
            }
            params.push(value);
            sql.push_str(&target.param(params.len(), columns[c]));
        }
        sql.push(')');
    }
    upsert_clause(&mut sql, d, mode, &names, columns, keys)?;
    Ok(Statement::new(sql, params))
}

/// The upsert's tail: `ON CONFLICT (keys) DO UPDATE SET ...` (PostgreSQL, SQLite) or `ON
/// DUPLICATE KEY UPDATE ...` (MySQL); nothing for a plain insert.
fn upsert_clause(
    sql: &mut String,
    d: Dialect,
    mode: InsertMode,
    names: &[String],
    columns: &[&str],
    keys: &[&str],
) -> Result<(), String> {
    if mode == InsertMode::Upsert {
        let key_names = quoted(d, keys)?;
        let others: Vec<&String> = names
            .iter()
            .zip(columns)
            .filter(|(_, c)| !keys.contains(c))
            .map(|(n, _)| n)
            .collect();
        match d {
            Dialect::Postgres | Dialect::Sqlite => {
                sql.push_str(&format!(" ON CONFLICT ({}) DO ", key_names.join(", ")));
                if others.is_empty() {
                    sql.push_str("NOTHING");
                } else {
                    let set: Vec<String> = others
                        .iter()
                        .map(|n| format!("{n} = EXCLUDED.{n}"))
                        .collect();
                    sql.push_str(&format!("UPDATE SET {}", set.join(", ")));
                }
            }
            Dialect::MySql => {
                let set: Vec<String> = if others.is_empty() {
                    key_names.iter().map(|n| format!("{n} = {n}")).collect()
                } else {
                    others
                        .iter()
                        .map(|n| format!("{n} = VALUES({n})"))
                        .collect()
                };
                sql.push_str(&format!(" ON DUPLICATE KEY UPDATE {}", set.join(", ")));
            }
        }
    }
    Ok(())
}

/// Appends `value` as an element of a PostgreSQL array literal: NULL, or the value's text
/// form in double quotes with `"` and `\` escaped (bytes in bytea's hex form).
fn array_element(out: &mut String, value: &Value) {
    use std::fmt::Write;
    let owned;
    let text = match value {
        Value::Null => return out.push_str("NULL"),
        Value::Boolean(b) => {
            if *b {
                "t"
            } else {
                "f"
            }
        }
        Value::Int(i) => {
            owned = i.to_string();
            &owned
        }
        Value::Float(f) => match float_text(*f) {
            Some(t) => t,
            None => {
                owned = f.to_string();
                &owned
            }
        },
        Value::Bytes(b) => {
            let mut hex = String::with_capacity(2 + 2 * b.len());
            hex.push_str("\\x");
            for byte in b {
                let _ = write!(hex, "{byte:02x}");
            }
            owned = hex;
            &owned
        }
        text => text.as_text().unwrap_or_default(),
    };
    out.reserve(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// `c1 = .. <separator> c2 = ..`, binding `values` after `params` (a `SET` list with `, `, a
/// key match with ` AND `).
fn equal(
    target: &Target,
    names: &[&str],
    values: Vec<Value>,
    params: &mut Vec<Value>,
    separator: &str,
) -> Result<String, String> {
    let mut parts = Vec::with_capacity(names.len());
    for (name, value) in names.iter().zip(values) {
        params.push(value);
        parts.push(format!(
            "{} = {}",
            quote(target.dialect, name)?,
            target.param(params.len(), name)
        ));
    }
    Ok(parts.join(separator))
}

/// `UPDATE` of one row's non-key `columns` where its `keys` match.
pub fn update(
    target: &Target,
    columns: &[&str],
    values: Vec<Value>,
    keys: &[&str],
    key: Vec<Value>,
) -> Result<Statement, String> {
    let mut params = Vec::with_capacity(values.len() + key.len());
    let set = equal(target, columns, values, &mut params, ", ")?;
    let filter = equal(target, keys, key, &mut params, " AND ")?;
    Ok(Statement::new(
        format!("UPDATE {} SET {set} WHERE {filter}", target.table),
        params,
    ))
}

/// `DELETE` of the row whose `keys` match.
pub fn delete(target: &Target, keys: &[&str], key: Vec<Value>) -> Result<Statement, String> {
    let mut params = Vec::with_capacity(key.len());
    let filter = equal(target, keys, key, &mut params, " AND ")?;
    Ok(Statement::new(
        format!("DELETE FROM {} WHERE {filter}", target.table),
        params,
    ))
}

/// `CREATE TABLE` with `fields`, `keys` the primary key.
pub fn create(
    dialect: Dialect,
    table: &str,
    fields: &[Field],
    keys: &[&str],
) -> Result<String, String> {
    let mut parts = Vec::with_capacity(fields.len() + 1);
    for f in fields {
        let key = keys.contains(&f.name.as_str());
        let null = if key || !f.optional {
            "NOT NULL"
        } else {
            "NULL"
        };
        parts.push(format!(
            "{} {} {null}",
            quote(dialect, &f.name)?,
            f.ty.ddl(dialect, key)
        ));
    }
    if !keys.is_empty() {
        parts.push(format!(
            "PRIMARY KEY ({})",
            quoted(dialect, keys)?.join(", ")
        ));
    }
    // MySQL's default character set may not hold all of Unicode.
    let charset = if dialect == Dialect::MySql {
        " DEFAULT CHARACTER SET utf8mb4"
    } else {
        ""
    };
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {table} ({}){charset}",
        parts.join(", ")
    ))
}

/// `ALTER TABLE ... ADD COLUMN` for a field the table lacks: always nullable, since the rows
/// already there have no value for it.
pub fn add_column(dialect: Dialect, table: &str, field: &Field) -> Result<String, String> {
    Ok(format!(
        "ALTER TABLE {table} ADD COLUMN {} {} NULL",
        quote(dialect, &field.name)?,
        field.ty.ddl(dialect, false)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use connectd_sql_common::FieldType;

    fn column(name: &str, ty: &str) -> ColumnInfo {
        ColumnInfo {
            name: name.into(),
            data_type: ty.into(),
            exact_type: ty.into(),
            nullable: true,
            primary_key: false,
            precision: None,
            scale: None,
        }
    }

    #[test]
    fn upserts_take_each_dialects_form() {
        let columns = [column("id", "int8"), column("name", "text")];
        let rows = || {
            vec![
                vec![Value::Int(1), Value::Text("a".into())],
                vec![Value::Int(2), Value::Null],
            ]
        };
        let pg = Target {
            dialect: Dialect::Postgres,
            table: "\"t\"",
            columns: &columns,
        };
        let s = insert(&pg, InsertMode::Upsert, &["id", "name"], &["id"], rows()).unwrap();
        assert_eq!(
            s.sql,
            "INSERT INTO \"t\" (\"id\", \"name\") SELECT * FROM UNNEST(CAST($1 AS \"int8\"[]), CAST($2 AS \"text\"[])) \
             ON CONFLICT (\"id\") DO UPDATE SET \"name\" = EXCLUDED.\"name\""
        );
        assert_eq!(
            s.params,
            [
                Value::Text("{\"1\",\"2\"}".into()),
                Value::Text("{\"a\",NULL}".into())
            ]
        );
        // Quotes, backslashes and bytes inside an array literal.
        let mut out = String::new();
        array_element(&mut out, &Value::Text("say \"hi\" \\o/".into()));
        array_element(&mut out, &Value::Bytes(vec![0, 255]));
        assert_eq!(out, r#""say \"hi\" \\o/""\\x00ff""#);
        // A column whose type is unknown takes the VALUES form, casts and all.
        let unknown = Target {
            dialect: Dialect::Postgres,
            table: "\"t\"",
            columns: &columns[..1],
        };
        let s = insert(&unknown, InsertMode::Insert, &["id", "name"], &[], rows()).unwrap();
        assert_eq!(
            s.sql,
            "INSERT INTO \"t\" (\"id\", \"name\") VALUES (CAST($1 AS \"int8\"), $2), (CAST($3 AS \"int8\"), $4)"
        );
        let my = Target {
            dialect: Dialect::MySql,
            table: "`t`",
            columns: &[],
        };
        let s = insert(&my, InsertMode::Upsert, &["id", "name"], &["id"], rows()).unwrap();
        assert_eq!(
            s.sql,
            "INSERT INTO `t` (`id`, `name`) VALUES (?, ?), (?, ?) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)"
        );
        let lite = Target {
            dialect: Dialect::Sqlite,
            table: "\"t\"",
            columns: &[],
        };
        let s = insert(
            &lite,
            InsertMode::Upsert,
            &["id"],
            &["id"],
            vec![vec![Value::Int(1)]],
        )
        .unwrap();
        assert_eq!(
            s.sql,
            "INSERT INTO \"t\" (\"id\") VALUES (?) ON CONFLICT (\"id\") DO NOTHING"
        );
    }

    #[test]
    fn updates_deletes_and_ddl() {
        let my = Target {
            dialect: Dialect::MySql,
            table: "`t`",
            columns: &[],
        };
        let s = update(
            &my,
            &["name"],
            vec![Value::Text("b".into())],
            &["id"],
            vec![Value::Int(1)],
        )
        .unwrap();
        assert_eq!(s.sql, "UPDATE `t` SET `name` = ? WHERE `id` = ?");
        assert_eq!(s.params, vec![Value::Text("b".into()), Value::Int(1)]);
        let s = delete(&my, &["id"], vec![Value::Int(1)]).unwrap();
        assert_eq!(s.sql, "DELETE FROM `t` WHERE `id` = ?");
        let fields = [
            Field {
                name: "id".into(),
                ty: FieldType::String,
                optional: false,
            },
            Field {
                name: "note".into(),
                ty: FieldType::String,
                optional: true,
            },
        ];
        assert_eq!(
            create(Dialect::MySql, "`t`", &fields, &["id"]).unwrap(),
            "CREATE TABLE IF NOT EXISTS `t` (`id` VARCHAR(255) NOT NULL, `note` LONGTEXT NULL, PRIMARY KEY (`id`)) DEFAULT CHARACTER SET utf8mb4"
        );
        assert_eq!(
            add_column(Dialect::Postgres, "\"t\"", &fields[1]).unwrap(),
            "ALTER TABLE \"t\" ADD COLUMN \"note\" TEXT NULL"
        );
    }
}
