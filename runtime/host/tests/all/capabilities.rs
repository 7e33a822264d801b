//! The `sql` and `object-store` capabilities are cargo features of the host. A build without
//! one still loads every plugin (each imports the capabilities its kind may use), and the
//! plugin's first call into the missing one fails its task, naming the feature to build with.
//! [`Host::leave_out`] links plugins as that build would, so this one build tests both.

use connectd_host::{Grants, Host, Limits, SourceTask, TaskError};

/// Opens the SQL source over an empty SQLite database on `host`.
fn open_sql_source(host: &Host) -> Result<SourceTask, TaskError> {
    let wasm = crate::support::build_connector("connectd-sql-source");
    let dir = tempfile::tempdir().unwrap();
    let plugin = host
        .load(&wasm)
        .expect("a plugin loads whatever capabilities the host links");
    let url = format!("sqlite://{}/empty.db?mode=rwc", dir.path().display());
    let config = [
        ("connection.url", url.as_str()),
        ("mode", "bulk"),
        ("topic.prefix", "db."),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .to_vec();
    let grants = Grants {
        sql_urls: vec![url.clone()],
        ..Grants::default()
    };
    plugin.open_source(config, vec![], &grants, &Limits::default())
}

#[test]
fn a_capability_left_out_of_the_build_fails_the_call_naming_its_feature() {
    let cache = tempfile::tempdir().unwrap();
    let without = Host::new(cache.path(), crate::io())
        .unwrap()
        .leave_out("sql");
    match open_sql_source(&without) {
        Err(TaskError::Fatal(m)) => assert!(
            m.contains("without the `sql` capability") && m.contains("--features sql"),
            "{m}"
        ),
        Err(other) => panic!("expected the missing capability named, got {other}"),
        Ok(_) => panic!("a host without sql opened a database"),
    }
    // The same plugin on a host with the capability opens its database.
    let with = Host::new(cache.path(), crate::io()).unwrap();
    if cfg!(feature = "sql") {
        let opened = open_sql_source(&with);
        assert!(opened.is_ok(), "{:?}", opened.err());
    }
}
