//! The real file-source component, built from connectors/file-source for wasm32-wasip2, run in
//! the host: it reads only its granted directory, resumes from positions, and the compiled
//! component is cached.

use connectd_host::{Grants, Host, Limits, TaskError};
use connectd_records::Kind;

#[test]
fn file_source_component_reads_its_granted_directory_only() {
    let wasm = crate::support::build_connector("connectd-file-source");
    let cache = tempfile::tempdir().unwrap();
    let host = Host::new(cache.path(), crate::io()).unwrap();
    let plugin = host.load(&wasm).unwrap();
    assert_eq!(plugin.descriptor().name, "file-source");
    assert_eq!(plugin.descriptor().kind, Kind::Source);
    assert!(plugin.descriptor().config_schema.contains("\"file\""));

    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("in.txt"), "alpha\nbeta\ngamma\n").unwrap();
    let grants = Grants {
        read_dirs: vec![(data.path().to_path_buf(), "/data".into())],
        ..Default::default()
    };
    let config = |file: &str| {
        vec![
            ("file".to_string(), file.to_string()),
            ("topic".to_string(), "lines".to_string()),
        ]
    };

    let mut task = plugin
        .open_source(config("/data/in.txt"), vec![], &grants, &Limits::default())
        .unwrap();
    let records = task.poll(2).unwrap().to_records();
    let values: Vec<_> = records
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
        .collect();
    assert_eq!(values, ["alpha", "beta"]);

    // Resume from the last position in a fresh task.
    let last = records.last().unwrap();
    let mut resumed = plugin
        .open_source(
            config("/data/in.txt"),
            vec![(last.source_partition.clone(), last.source_position.clone())],
            &grants,
            &Limits::default(),
        )
        .unwrap();
    let rest: Vec<_> = resumed
        .poll(10)
        .unwrap()
        .to_records()
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
        .collect();
    assert_eq!(rest, ["gamma"]);

    // Outside the grant there is nothing: the host's files are not visible to the guest.
    let secret = tempfile::tempdir().unwrap();
    std::fs::write(secret.path().join("secret.txt"), "do not read\n").unwrap();
    let path = secret.path().join("secret.txt");
    let mut outside = plugin
        .open_source(
            config(path.to_str().unwrap()),
            vec![],
            &grants,
            &Limits::default(),
        )
        .unwrap();
    match outside.poll(10) {
        Ok(records) => assert!(
            records.is_empty(),
            "read a file outside its grant: {records:?}"
        ),
        Err(TaskError::Retryable(m)) => assert!(m.contains("secret.txt"), "{m}"),
        Err(e) => panic!("unexpected error {e}"),
    }

    // Bad config is reported with the key.
    let err = plugin
        .open_source(
            vec![("topic".into(), "t".into())],
            vec![],
            &grants,
            &Limits::default(),
        )
        .err()
        .unwrap();
    assert!(
        matches!(&err, TaskError::InvalidConfig(m) if m.contains("`file`")),
        "{err}"
    );

    // The compiled component was cached and loads again from the cache.
    assert_eq!(
        std::fs::read_dir(cache.path())
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "cwasm"))
            .count(),
        1
    );
    let again = host.load(&wasm).unwrap();
    assert_eq!(again.descriptor().name, "file-source");
}

#[test]
fn a_file_that_is_not_a_component_is_refused_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("broken.wasm");
    std::fs::write(&bogus, b"\0asm not really").unwrap();
    let host = Host::new(&dir.path().join("cache"), crate::io()).unwrap();
    let err = host.load(&bogus).err().unwrap().to_string();
    assert!(
        err.contains("broken.wasm") && err.contains("wasm32-wasip2"),
        "{err}"
    );
}
