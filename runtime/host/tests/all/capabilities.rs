//! The `sql` and `object-store` capabilities are cargo features of the host. A build without
//! one still loads every plugin (each imports the capabilities its kind may use), and the
//! plugin's first call into the missing one fails its task, naming the feature to build with.
//! CI runs this file in both builds.

use connectd_host::{Grants, Host, Limits, TaskError};

#[test]
fn a_capability_left_out_of_the_build_fails_the_call_naming_its_feature() {
    let wasm = crate::support::build_connector("connectd-sql-source");
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let host = Host::new(cache.path(), crate::io()).unwrap();
    let plugin = host
        .load(&wasm)
        .expect("a plugin loads whatever capabilities the build has");
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
    let opened = plugin.open_source(config, vec![], &grants, &Limits::default());
    if cfg!(feature = "sql") {
        assert!(opened.is_ok(), "{:?}", opened.err());
    } else {
        match opened {
            Err(TaskError::Fatal(m)) => assert!(
                m.contains("without the `sql` capability") && m.contains("--features sql"),
                "{m}"
            ),
            Err(other) => panic!("expected the missing capability named, got {other}"),
            Ok(_) => panic!("a build without sql opened a database"),
        }
    }
}
