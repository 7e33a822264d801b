//! The tables the sink writes: described once, created (`auto.create`) or widened
//! (`auto.evolve`) when a record needs it, or refused with what to do.

use std::collections::HashMap;

use connectd_sdk::ConnectorError;
use connectd_sql_common::catalog::{self, ColumnInfo, TableId};
use connectd_sql_common::ident::quote;
use connectd_sql_common::{Connection, Dialect, Field, Statement};

use crate::statements::{self, Target};

/// A table as last described.
pub struct Table {
    quoted: String,
    columns: Vec<ColumnInfo>,
}

impl Table {
    pub fn target(&self, dialect: Dialect) -> Target<'_> {
        Target {
            dialect,
            table: &self.quoted,
            columns: &self.columns,
        }
    }

    fn has(&self, dialect: Dialect, name: &str) -> bool {
        self.columns.iter().any(|c| {
            c.name == name || (dialect == Dialect::MySql && c.name.eq_ignore_ascii_case(name))
        })
    }
}

/// Every table written so far, by name.
pub struct Tables {
    auto_create: bool,
    auto_evolve: bool,
    known: HashMap<String, Table>,
}

fn ddl(conn: &Connection, sql: String) -> Result<(), ConnectorError> {
    conn.execute(vec![Statement::new(sql, vec![])])?;
    Ok(())
}

impl Tables {
    pub fn new(auto_create: bool, auto_evolve: bool) -> Tables {
        Tables {
            auto_create,
            auto_evolve,
            known: HashMap::new(),
        }
    }

    /// Table `name` as last described, if it was.
    pub fn get(&self, name: &str) -> Option<&Table> {
        self.known.get(name)
    }

    /// Whether table `name` is known to exist with a column for each of `fields`.
    pub fn ready(&self, dialect: Dialect, name: &str, fields: &[Field]) -> bool {
        self.known.get(name).is_some_and(|t| {
            !t.columns.is_empty() && fields.iter().all(|f| t.has(dialect, &f.name))
        })
    }

    /// Table `name`, with a column for each of `fields` (the first `keys` its primary key).
    pub fn prepare(
        &mut self,
        conn: &Connection,
        name: &str,
        fields: &[Field],
        keys: usize,
    ) -> Result<&Table, ConnectorError> {
        let dialect = conn.dialect();
        let fatal = |e: String| ConnectorError::Fatal(format!("table {name:?}: {e}"));
        let id = TableId::current(name);
        if !self.known.contains_key(name) {
            let quoted = quote(dialect, name)
                .map_err(|e| fatal(format!("table.name.format gives no usable name: {e}")))?;
            let columns = catalog::columns(conn, &id)?;
            self.known
                .insert(name.to_string(), Table { quoted, columns });
        }
        let table = self.known.get_mut(name).expect("inserted above");
        if table.columns.is_empty() {
            if !self.auto_create {
                return Err(fatal(
                    "no such table: create it, or set auto.create = true".into(),
                ));
            }
            let key_names: Vec<&str> = fields[..keys].iter().map(|f| f.name.as_str()).collect();
            let sql =
                statements::create(dialect, &table.quoted, fields, &key_names).map_err(fatal)?;
            // Another task may have created it meanwhile; describing again tells.
            let created = ddl(conn, sql);
            table.columns = catalog::columns(conn, &id)?;
            if table.columns.is_empty() {
                created?;
            }
        }
        let missing: Vec<&Field> = fields
            .iter()
            .filter(|f| !table.has(dialect, &f.name))
            .collect();
        if let Some(first) = missing.first() {
            if !self.auto_evolve {
                return Err(fatal(format!(
                    "no column {:?} for the record's field: add it, or set auto.evolve = true",
                    first.name
                )));
            }
            for field in &missing {
                let sql = statements::add_column(dialect, &table.quoted, field).map_err(fatal)?;
                let added = ddl(conn, sql);
                table.columns = catalog::columns(conn, &id)?;
                if !table.has(dialect, &field.name) {
                    added?;
                }
            }
        }
        Ok(table)
    }
}
