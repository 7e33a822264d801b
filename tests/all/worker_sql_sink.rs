//! sql-sink against the real PostgreSQL and MariaDB this machine runs: idempotent upserts
//! and deletes, and bad input (names that try to inject SQL, a wrong password, a missing
//! table, a database that goes away and comes back).

use std::time::Duration;

use crate::sql_support::{
    PG_URL, PLUGINS, Proxy, block, caught_up, count, exec, mariadb, pg, produce, status, suffix,
};
use crate::support::{Connectd, wait_until};

/// A row of the upsert test's table: id, name, score, big.
type Upserted = (i64, Option<String>, Option<f64>, Option<i64>);

fn snapshot(pg: &sqlx::PgPool, table: &str) -> Vec<Upserted> {
    block(
        sqlx::query_as(&format!(
            "SELECT id, name, score, big FROM \"{table}\" ORDER BY id"
        ))
        .fetch_all(pg),
    )
    .unwrap()
}

#[test]
fn upserts_replay_idempotently_and_tombstones_delete() {
    let n = suffix();
    let (topic, table) = (format!("up{n}"), format!("up_{n}"));
    let sink = |name: &str| {
        (
            format!("{name}.toml"),
            format!(
                "plugin = \"sql-sink\"\ntopics = \"{topic}\"\n\"connection.url\" = \"{PG_URL}\"\n\
                 \"table.name.format\" = \"{table}\"\n\"auto.create\" = true\n\"insert.mode\" = \"upsert\"\n\
                 \"pk.mode\" = \"record_key\"\n\"delete.enabled\" = true\n\"batch.size\" = 7\n"
            ),
        )
    };
    let (file, first) = sink("first");
    let c = Connectd::with_connectors(PLUGINS, &[(&file, &first)]);
    c.cli(&["topics", "create", &topic, "--partitions", "1"], None);
    let value = |i: i64, name: &str| {
        Some(format!(
            "{{\"id\":{i},\"name\":\"{name}\",\"score\":{},\"big\":{}}}",
            i as f64 * 1.5,
            9_007_199_254_740_993i64 + i
        ))
    };
    let key = |i: i64| format!("{{\"id\":{i}}}");
    let mut records: Vec<(String, Option<String>)> = (1..=20)
        .map(|i| (key(i), value(i, &format!("n{i}"))))
        .collect();
    // Updates of keys already in this batch, and a tombstone.
    records.extend((1..=5).map(|i| (key(i), value(i, &format!("updated {i}")))));
    records.push((key(6), None));
    produce(&c, &topic, &records);
    let pg = pg();
    wait_until(
        "the first sink to commit every record",
        Duration::from_secs(60),
        || caught_up(&c.bootstrap(), "connect-first", &topic),
    );
    let before = snapshot(&pg, &table);
    assert_eq!(before.len(), 19, "{before:?}");
    assert_eq!(
        before[0],
        (
            1,
            Some("updated 1".into()),
            Some(1.5),
            Some(9_007_199_254_740_994)
        )
    );
    assert!(
        !before.iter().any(|r| r.0 == 6),
        "the tombstone deleted row 6"
    );

    // A second connector (its own consumer group) replays every record into the same table.
    let (file, second) = sink("second");
    std::fs::write(c.dir.path().join("connectors.d").join(file), second).unwrap();
    wait_until(
        "the replay to commit every record",
        Duration::from_secs(60),
        || caught_up(&c.bootstrap(), "connect-second", &topic),
    );
    assert_eq!(snapshot(&pg, &table), before, "a replay changed the table");
    assert!(
        status(&c.api(), "second")
            .iter()
            .all(|(s, _)| s == "RUNNING")
    );
    exec!(&pg, format!("DROP TABLE \"{table}\""));
}

#[test]
fn bad_names_passwords_tables_and_outages_are_reported_and_recovered_from() {
    let n = suffix();
    let pg = pg();
    let victim = format!("victim_{n}");
    exec!(
        &pg,
        format!("CREATE TABLE {victim} (id int)"),
        format!("INSERT INTO {victim} VALUES (1)")
    );
    let maria_proxy = Proxy::start("127.0.0.1:3306");
    let evil_table = format!("evil\"; DROP TABLE {victim}; --");
    let connectors = [
        // Names that try to end the identifier and run SQL of their own.
        (
            "inject.toml".to_string(),
            format!(
                "plugin = \"sql-sink\"\ntopics = \"inj{n}\"\n\"connection.url\" = \"{PG_URL}\"\n\
                 \"table.name.format\" = '{evil_table}'\n\"auto.create\" = true\n\"auto.evolve\" = true\n\
                 \"pk.mode\" = \"record_value\"\n\"pk.fields\" = \"id\"\n\"insert.mode\" = \"upsert\"\n"
            ),
        ),
        (
            "inject-source.toml".to_string(),
            format!(
                "plugin = \"sql-source\"\n\"connection.url\" = \"{PG_URL}\"\nmode = \"incrementing\"\n\
                 \"incrementing.column.name\" = 'id\" > 0; DROP TABLE {victim}; --'\n\
                 \"table.include.list\" = \"{victim}\"\n\"topic.prefix\" = \"inj{n}-\"\n"
            ),
        ),
        (
            "password.toml".to_string(),
            format!(
                "plugin = \"sql-source\"\n\"connection.url\" = \"mysql://root:not-the-password-{n}@127.0.0.1:3306/test\"\n\
                 mode = \"bulk\"\n\"topic.prefix\" = \"pw{n}-\"\n"
            ),
        ),
        (
            "missing.toml".to_string(),
            format!(
                "plugin = \"sql-sink\"\ntopics = \"miss{n}\"\n\"connection.url\" = \"{PG_URL}\"\n\
                 \"table.name.format\" = \"missing_{n}\"\n"
            ),
        ),
        (
            "outage.toml".to_string(),
            format!(
                "plugin = \"sql-sink\"\ntopics = \"out{n}\"\n\"connection.url\" = \"mysql://root@127.0.0.1:{}/test\"\n\
                 \"table.name.format\" = \"outage_{n}\"\n\"auto.create\" = true\n\"insert.mode\" = \"upsert\"\n\
                 \"pk.mode\" = \"record_key\"\n\"pk.fields\" = \"id\"\n\"errors.retry.timeout\" = 3000\n",
                maria_proxy.port
            ),
        ),
    ];
    let refs: Vec<(&str, &str)> = connectors
        .iter()
        .map(|(f, c)| (f.as_str(), c.as_str()))
        .collect();
    let c = Connectd::with_connectors(PLUGINS, &refs);
    let failed_with = |name: &str, text: &str| {
        status(&c.api(), name)
            .iter()
            .any(|(s, trace)| s == "FAILED" && trace.contains(text))
    };

    // Injection: the names are names, and the victim stays.
    let weird = format!("x\"); DROP TABLE {victim}; --");
    produce(
        &c,
        &format!("inj{n}"),
        &[(
            "k".into(),
            Some(serde_json::json!({"id": 1, weird.clone(): "a"}).to_string()),
        )],
    );
    let evil_quoted = format!("\"{}\"", evil_table.replace('"', "\"\""));
    wait_until("the evil-named table", Duration::from_secs(60), || {
        count!(&pg, evil_quoted) == 1
    });
    let other = format!("y'; DELETE FROM {victim}; --");
    produce(
        &c,
        &format!("inj{n}"),
        &[(
            "k".into(),
            Some(serde_json::json!({"id": 2, other.clone(): "b"}).to_string()),
        )],
    );
    wait_until("the second evil row", Duration::from_secs(30), || {
        count!(&pg, evil_quoted) == 2
    });
    let got: (Option<String>, Option<String>) = block(
        sqlx::query_as(&format!(
            "SELECT \"{}\", \"{}\" FROM {evil_quoted} WHERE id = 2",
            weird.replace('"', "\"\""),
            other
        ))
        .fetch_one(&pg),
    )
    .unwrap();
    assert_eq!(got, (None, Some("b".into())));
    wait_until(
        "the injecting source to fail on its column",
        Duration::from_secs(30),
        || failed_with("inject-source", "DROP TABLE"),
    );
    assert_eq!(
        count!(&pg, victim),
        1,
        "the victim table lost rows or vanished"
    );

    // A wrong password says so, and does not show it.
    wait_until(
        "the wrong password to be reported",
        Duration::from_secs(30),
        || failed_with("password", "refused the login"),
    );
    let traces = format!("{:?}", status(&c.api(), "password"));
    assert!(!traces.contains("not-the-password"), "{traces}");
    assert!(
        !c.log_text().contains("not-the-password"),
        "the log shows the password"
    );

    // A missing table fails the task until it exists; then every record lands.
    let miss: Vec<(String, Option<String>)> = (1..=10)
        .map(|i| (format!("{i}"), Some(format!("{{\"id\":{i}}}"))))
        .collect();
    produce(&c, &format!("miss{n}"), &miss);
    wait_until(
        "the missing table to be reported",
        Duration::from_secs(30),
        || failed_with("missing", "no such table"),
    );
    exec!(&pg, format!("CREATE TABLE missing_{n} (id bigint)"));
    wait_until(
        "the records to land once the table exists",
        Duration::from_secs(60),
        || count!(&pg, format!("missing_{n}")) == 10,
    );

    // The database goes away and comes back: the task fails, then resumes with nothing lost.
    let out = |range: std::ops::RangeInclusive<i64>| -> Vec<(String, Option<String>)> {
        range
            .map(|i| (format!("{i}"), Some(format!("{{\"v\":{i}}}"))))
            .collect()
    };
    produce(&c, &format!("out{n}"), &out(1..=20));
    let maria = mariadb();
    wait_until(
        "the rows before the outage",
        Duration::from_secs(60),
        || count!(&maria, format!("outage_{n}")) == 20,
    );
    maria_proxy.down();
    produce(&c, &format!("out{n}"), &out(21..=40));
    wait_until("the outage to be reported", Duration::from_secs(60), || {
        failed_with("outage", "reach the database") || failed_with("outage", "no connection")
    });
    maria_proxy.up();
    wait_until("the rows after the outage", Duration::from_secs(90), || {
        count!(&maria, format!("outage_{n}")) == 40
    });

    exec!(
        &pg,
        format!("DROP TABLE {victim}"),
        format!("DROP TABLE {evil_quoted}"),
        format!("DROP TABLE missing_{n}")
    );
    exec!(&maria, format!("DROP TABLE outage_{n}"));
}

/// A sink writes into a PostgreSQL that takes TLS connections only, verifying its
/// certificate (`sslmode=verify-full`), and a connector that asks for no TLS is refused with
/// PostgreSQL's reason.
#[test]
fn a_sink_writes_to_postgresql_over_tls() {
    let pg = crate::sql_support::TlsPostgres::start();
    let n = suffix();
    let (topic, table) = (format!("tls{n}"), format!("tls_{n}"));
    let plain = pg.url().replace("sslmode=verify-full", "sslmode=disable");
    let sink = |url: &str| {
        format!(
            "plugin = \"sql-sink\"\ntopics = \"{topic}\"\n\"connection.url\" = \"{url}\"\n\
             \"table.name.format\" = \"{table}\"\n\"auto.create\" = true\n\"insert.mode\" = \"upsert\"\n\
             \"pk.mode\" = \"record_key\"\n"
        )
    };
    let c = Connectd::with_connectors(
        PLUGINS,
        &[
            ("secure.toml", &sink(&pg.url())),
            ("plain.toml", &sink(&plain)),
        ],
    );
    c.cli(&["topics", "create", &topic, "--partitions", "1"], None);
    let records: Vec<(String, Option<String>)> = (1..=10)
        .map(|i| {
            (
                format!("{{\"id\":{i}}}"),
                Some(format!("{{\"id\":{i},\"name\":\"n{i}\"}}")),
            )
        })
        .collect();
    produce(&c, &topic, &records);
    wait_until(
        "the TLS sink to commit every record",
        Duration::from_secs(60),
        || caught_up(&c.bootstrap(), "connect-secure", &topic),
    );
    let pool = block(sqlx::PgPool::connect(&pg.url())).unwrap();
    assert_eq!(count!(&pool, format!("\"{table}\"")), 10);
    let over_tls: (bool,) = block(
        sqlx::query_as("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetch_one(&pool),
    )
    .unwrap();
    assert!(over_tls.0, "the test's own connection is TLS too");
    wait_until(
        "the plain sink to fail with the server's reason",
        Duration::from_secs(60),
        || {
            status(&c.api(), "plain")
                .iter()
                .any(|(state, trace)| state == "FAILED" && trace.contains("no encryption"))
        },
    );
}
