//! sql-source against the real PostgreSQL and MariaDB this machine runs: a table's round trip
//! through a topic into MariaDB, SQLite and PostgreSQL again, the incremental modes across
//! kill -9, the timestamp delay, bulk mode across tasks, a custom query, and a MariaDB table
//! as the source. Every test uses table and topic names of its own, so they run in parallel.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::sql_support::{
    MARIADB_URL, PG_URL, PLUGINS, block, count, exec, mariadb, pg, sqlite, status, suffix,
};
use crate::support::{Connectd, read_all, wait_until};

/// One row as every database reads it back, normalized: id, amount (decimal text), at
/// (instant), note, data, flag, big, ratio.
type Row = (
    i64,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<Vec<u8>>,
    Option<bool>,
    Option<i64>,
    Option<f64>,
);

#[test]
fn a_postgres_table_round_trips_into_mariadb_and_sqlite() {
    let n = suffix();
    let table = format!("Trip \"Items\" {n}");
    let quoted = format!("\"Trip \"\"Items\"\" {n}\"");
    let pg = pg();
    exec!(
        &pg,
        format!(
            "CREATE TABLE {quoted} (id bigint PRIMARY KEY, amount numeric(30,10), at timestamptz, \
             note text, data bytea, flag boolean, big bigint, ratio double precision)"
        )
    );
    let rows = 40i64;
    for i in 1..=rows {
        let amount = (i % 7 != 0).then(|| format!("12345678901234567{i:03}.0123456789"));
        let at =
            (i % 5 != 0).then(|| format!("2026-11-{:02}T10:{i:02}:00.123456+05:30", 1 + i % 28));
        let note = (i % 6 != 0).then(|| match i {
            1 => "x".repeat(100 * 1024),
            _ => format!("ünïcödé ✓ 日本 \"quoted\" 'single'\nline {i}"),
        });
        let data = (i % 4 != 0).then(|| vec![i as u8, 0, 255, b'\n', b'"']);
        let flag = (i % 9 != 0).then_some(i % 2 == 0);
        block(
            sqlx::query(&format!(
                "INSERT INTO {quoted} VALUES ($1, $2::numeric, $3::timestamptz, $4, $5, $6, $7, $8)"
            ))
            .bind(i)
            .bind(amount)
            .bind(at)
            .bind(note)
            .bind(data)
            .bind(flag)
            .bind(9_007_199_254_740_993i64 + i)
            .bind(i as f64 / 3.0)
            .execute(&pg),
        )
        .unwrap();
    }
    let topic = format!("rt{n}-Trip__Items__{n}");
    let dir = tempfile::tempdir().unwrap();
    let lite_path = dir.path().join("copy.db");
    let source = format!(
        "plugin = \"sql-source\"\n\"connection.url\" = \"{PG_URL}\"\nmode = \"incrementing\"\n\
         \"incrementing.column.name\" = \"id\"\n\"table.include.list\" = '{table}'\n\
         \"topic.prefix\" = \"rt{n}-\"\n\"poll.interval.ms\" = 200\n\"batch.max.rows\" = 15\n"
    );
    let sink = |url: &str| {
        format!(
            "plugin = \"sql-sink\"\ntopics = \"{topic}\"\n\"connection.url\" = \"{url}\"\n\
             \"auto.create\" = true\n\"insert.mode\" = \"upsert\"\n\"pk.mode\" = \"record_key\"\n\
             \"table.name.format\" = \"copy_${{topic}}\"\n"
        )
    };
    let lite_url = format!("sqlite://{}", lite_path.display());
    let c = Connectd::with_connectors(
        PLUGINS,
        &[
            ("source.toml", &source),
            ("maria.toml", &sink(MARIADB_URL)),
            ("lite.toml", &sink(&lite_url)),
            // And back into PostgreSQL, through its array-parameter inserts.
            ("pg.toml", &sink(PG_URL)),
        ],
    );
    let (maria, lite) = (mariadb(), sqlite(&lite_path));
    let copy = format!("copy_{topic}");
    wait_until(
        "all rows in MariaDB and SQLite",
        Duration::from_secs(120),
        || {
            count!(&maria, format!("`{copy}`")) == rows
                && count!(&lite, format!("\"{copy}\"")) == rows
                && count!(&pg, format!("\"{copy}\"")) == rows
        },
    );

    let from_pg: Vec<Row> = block(
        sqlx::query_as(&format!(
            "SELECT id, amount::text, at, note, data, flag, big, ratio FROM {quoted} ORDER BY id"
        ))
        .fetch_all(&pg),
    )
    .unwrap();
    type MariaRow = (
        i64,
        Option<String>,
        Option<NaiveDateTime>,
        Option<String>,
        Option<Vec<u8>>,
        Option<bool>,
        Option<i64>,
        Option<f64>,
    );
    let from_maria: Vec<MariaRow> = block(
        sqlx::query_as(&format!(
            "SELECT id, CAST(amount AS CHAR), at, note, data, flag, big, ratio FROM `{copy}` ORDER BY id"
        ))
        .fetch_all(&maria),
    )
    .unwrap();
    let from_maria: Vec<Row> = from_maria
        .into_iter()
        .map(|r| (r.0, r.1, r.2.map(|t| t.and_utc()), r.3, r.4, r.5, r.6, r.7))
        .collect();
    type LiteRow = (
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<Vec<u8>>,
        Option<bool>,
        Option<i64>,
        Option<f64>,
    );
    let from_lite: Vec<LiteRow> = block(
        sqlx::query_as(&format!(
            "SELECT id, amount, at, note, data, flag, big, ratio FROM \"{copy}\" ORDER BY id"
        ))
        .fetch_all(&lite),
    )
    .unwrap();
    let from_lite: Vec<Row> = from_lite
        .into_iter()
        .map(|r| {
            let at = r.2.map(|t| {
                DateTime::parse_from_rfc3339(&t)
                    .unwrap()
                    .with_timezone(&Utc)
            });
            (r.0, r.1, at, r.3, r.4, r.5, r.6, r.7)
        })
        .collect();
    let from_pg_copy: Vec<Row> = block(
        sqlx::query_as(&format!(
            "SELECT id, amount::text, at, note, data, flag, big, ratio FROM \"{copy}\" ORDER BY id"
        ))
        .fetch_all(&pg),
    )
    .unwrap();
    assert_eq!(from_pg.len(), rows as usize);
    // Rows as they print on a failure: the 100 KiB note shortened.
    let short = |r: &Row| {
        let mut r = r.clone();
        r.3 = r
            .3
            .map(|n| n.chars().take(60).collect::<String>() + &format!("... ({} bytes)", n.len()));
        format!("{r:?}")
    };
    for (i, want) in from_pg.iter().enumerate() {
        assert!(
            from_maria[i] == *want,
            "MariaDB row {i}: {} != {}",
            short(&from_maria[i]),
            short(want)
        );
        assert!(
            from_pg_copy[i] == *want,
            "PostgreSQL copy row {i}: {} != {}",
            short(&from_pg_copy[i]),
            short(want)
        );
        assert!(
            from_lite[i] == *want,
            "SQLite row {i}: {} != {}",
            short(&from_lite[i]),
            short(want)
        );
    }
    // The topic holds each row once, keyed by its primary key, decimals as strings.
    let read = read_all(
        &c.bootstrap(),
        &[(&topic, 1)],
        rows as usize,
        Duration::from_secs(30),
    );
    assert_eq!(read.len(), rows as usize);
    assert_eq!(
        read[0].value["payload"]["amount"],
        "12345678901234567001.0123456789"
    );
    assert_eq!(read[0].value["payload"]["big"], 9_007_199_254_740_994i64);
    assert!(
        read[0].key.contains("\"payload\":{\"id\":1}"),
        "{}",
        read[0].key
    );
    exec!(
        &pg,
        format!("DROP TABLE {quoted}"),
        format!("DROP TABLE \"{copy}\"")
    );
    exec!(&maria, format!("DROP TABLE `{copy}`"));
}

#[test]
fn incremental_modes_lose_and_repeat_nothing_across_kill_9() {
    let n = suffix();
    let (both, inc) = (format!("both_{n}"), format!("inc_{n}"));
    let pg = pg();
    exec!(
        &pg,
        format!(
            "CREATE TABLE {both} (id serial PRIMARY KEY, ver int NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL)"
        ),
        format!("CREATE TABLE {inc} (id bigserial PRIMARY KEY, name text)")
    );
    let t1 = "2026-01-01T00:00:00+00:00";
    let insert_both = |count: usize| {
        exec!(
            &pg,
            format!(
                "INSERT INTO {both} (updated_at) SELECT '{t1}' FROM generate_series(1, {count})"
            )
        );
    };
    let insert_inc = |count: usize| {
        exec!(
            &pg,
            format!(
                "INSERT INTO {inc} (name) SELECT 'row ' || g FROM generate_series(1, {count}) g"
            )
        );
    };
    insert_both(300);
    insert_inc(100);
    let connector = |mode: &str, extra: &str| {
        format!(
            "plugin = \"sql-source\"\n\"connection.url\" = \"{PG_URL}\"\nmode = \"{mode}\"\n{extra}\n\
             \"topic.prefix\" = \"k{n}-\"\n\"poll.interval.ms\" = 100\n\"batch.max.rows\" = 20\n"
        )
    };
    let mut c = Connectd::with_connectors(
        PLUGINS,
        &[
            (
                "both.toml",
                &connector(
                    "timestamp+incrementing",
                    &format!(
                        "\"table.include.list\" = \"{both}\"\n\"timestamp.column.name\" = \"updated_at\"\n\"incrementing.column.name\" = \"id\""
                    ),
                ),
            ),
            (
                "inc.toml",
                &connector(
                    "incrementing",
                    &format!(
                        "\"table.include.list\" = \"{inc}\"\n\"incrementing.column.name\" = \"id\""
                    ),
                ),
            ),
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    c.kill9();
    // 300 more rows with the same timestamp: the position is inside that timestamp.
    insert_both(300);
    insert_inc(50);
    c.restart();
    std::thread::sleep(Duration::from_millis(400));
    c.kill9();
    exec!(
        &pg,
        format!(
            "UPDATE {both} SET ver = 1, updated_at = '2026-01-02T00:00:00+00:00' WHERE id <= 200"
        )
    );
    c.restart();
    std::thread::sleep(Duration::from_millis(500));
    c.kill9();
    c.restart();

    let read = read_all(
        &c.bootstrap(),
        &[(&format!("k{n}-{both}"), 1)],
        800,
        Duration::from_secs(90),
    );
    let mut seen: Vec<(i64, i64)> = read
        .iter()
        .map(|r| {
            let p = &r.value["payload"];
            (p["id"].as_i64().unwrap(), p["ver"].as_i64().unwrap())
        })
        .collect();
    seen.sort();
    let mut want: Vec<(i64, i64)> = (1..=600)
        .map(|id| (id, 0))
        .chain((1..=200).map(|id| (id, 1)))
        .collect();
    want.sort();
    assert_eq!(seen.len(), want.len(), "records in the topic");
    assert_eq!(seen, want, "each row version exactly once");

    let read = read_all(
        &c.bootstrap(),
        &[(&format!("k{n}-{inc}"), 1)],
        150,
        Duration::from_secs(60),
    );
    let ids: Vec<i64> = read
        .iter()
        .map(|r| r.value["payload"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (1..=150).collect::<Vec<_>>());
    exec!(
        &pg,
        format!("DROP TABLE {both}"),
        format!("DROP TABLE {inc}")
    );
}

#[test]
fn the_timestamp_delay_reads_rows_that_commit_late() {
    let n = suffix();
    let table = format!("late_{n}");
    let pg = pg();
    exec!(
        &pg,
        format!("CREATE TABLE {table} (id serial PRIMARY KEY, updated_at timestamptz NOT NULL)")
    );
    let source = format!(
        "plugin = \"sql-source\"\n\"connection.url\" = \"{PG_URL}\"\nmode = \"timestamp+incrementing\"\n\
         \"timestamp.column.name\" = \"updated_at\"\n\"incrementing.column.name\" = \"id\"\n\
         \"timestamp.delay.interval.ms\" = 3000\n\"table.include.list\" = \"{table}\"\n\
         \"topic.prefix\" = \"late{n}-\"\n\"poll.interval.ms\" = 100\n"
    );
    let c = Connectd::with_connectors(PLUGINS, &[("late.toml", &source)]);
    exec!(
        &pg,
        format!("INSERT INTO {table} (updated_at) VALUES (now())")
    );
    std::thread::sleep(Duration::from_secs(1));
    // A row stamped before the first, committed after it: a transaction that took a while.
    // Without the delay the first row is read at once and this one is behind the position.
    exec!(
        &pg,
        format!("INSERT INTO {table} (updated_at) VALUES (now() - interval '2 seconds')")
    );
    let read = read_all(
        &c.bootstrap(),
        &[(&format!("late{n}-{table}"), 1)],
        2,
        Duration::from_secs(30),
    );
    let ids: Vec<i64> = read
        .iter()
        .map(|r| r.value["payload"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        [2, 1],
        "the late row first (its timestamp is earlier), each once"
    );
    exec!(&pg, format!("DROP TABLE {table}"));
}

#[test]
fn bulk_splits_tables_across_tasks_and_queries_and_mariadb_read_too() {
    let n = suffix();
    let pg = pg();
    let maria = mariadb();
    let tables: Vec<String> = (1..=3).map(|t| format!("bulk{t}_{n}")).collect();
    for (t, table) in tables.iter().enumerate() {
        exec!(
            &pg,
            format!("CREATE TABLE {table} (id int PRIMARY KEY, name text)"),
            format!(
                "INSERT INTO {table} SELECT g, 'row ' || g FROM generate_series(1, {}) g",
                5 + t
            )
        );
    }
    let my_table = format!("my_{n}");
    exec!(
        &maria,
        format!(
            "CREATE TABLE {my_table} (id BIGINT UNSIGNED PRIMARY KEY, price DECIMAL(12,3), flag BOOLEAN, \
             at DATETIME(6), stamp TIMESTAMP(6) NULL, raw VARBINARY(8), doc JSON) DEFAULT CHARSET utf8mb4"
        ),
        format!(
            "INSERT INTO {my_table} VALUES (18446744073709551615, 12.500, TRUE, '2026-11-30 10:00:00.5', \
             '2026-11-30 10:00:00.25', X'00FF', '{{\"a\": [1, 2]}}'), (1, NULL, FALSE, NULL, NULL, NULL, NULL)"
        )
    );
    let bulk = format!(
        "plugin = \"sql-source\"\n\"connection.url\" = \"{PG_URL}\"\nmode = \"bulk\"\n\"tasks.max\" = 2\n\
         \"table.include.list\" = \"{}\"\n\"topic.prefix\" = \"b{n}-\"\n\"poll.interval.ms\" = 600000\n\
         \"batch.max.rows\" = 4\n\"value.converter.schemas.enable\" = false\n\"key.converter.schemas.enable\" = false\n",
        tables.join(",")
    );
    let query = format!(
        "plugin = \"sql-source\"\n\"connection.url\" = \"{PG_URL}\"\nmode = \"incrementing\"\n\
         \"incrementing.column.name\" = \"id\"\nquery = \"SELECT id, upper(name) AS shout FROM {} WHERE id % 2 = 1\"\n\
         \"topic.prefix\" = \"q{n}\"\n\"poll.interval.ms\" = 200\n",
        tables[2]
    );
    let my = format!(
        "plugin = \"sql-source\"\n\"connection.url\" = \"{MARIADB_URL}\"\nmode = \"bulk\"\n\
         \"table.include.list\" = \"{my_table}\"\n\"topic.prefix\" = \"m{n}-\"\n\"poll.interval.ms\" = 600000\n"
    );
    let c = Connectd::with_connectors(
        PLUGINS,
        &[
            ("bulk.toml", &bulk),
            ("query.toml", &query),
            ("my.toml", &my),
        ],
    );
    for (t, table) in tables.iter().enumerate() {
        let read = read_all(
            &c.bootstrap(),
            &[(&format!("b{n}-{table}"), 1)],
            5 + t,
            Duration::from_secs(30),
        );
        let ids: Vec<i64> = read
            .iter()
            .map(|r| r.value["id"].as_i64().unwrap())
            .collect();
        assert_eq!(
            ids,
            (1..=5 + t as i64).collect::<Vec<_>>(),
            "{table}: one pass, in key order"
        );
        assert_eq!(read[0].key, "{\"id\":1}");
    }
    let tasks = status(&c.api(), "bulk");
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert!(tasks.iter().all(|(s, _)| s == "RUNNING"), "{tasks:?}");

    let read = read_all(
        &c.bootstrap(),
        &[(&format!("q{n}"), 1)],
        4,
        Duration::from_secs(30),
    );
    let shouts: Vec<String> = read
        .iter()
        .map(|r| r.value["payload"]["shout"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shouts, ["ROW 1", "ROW 3", "ROW 5", "ROW 7"]);

    let read = read_all(
        &c.bootstrap(),
        &[(&format!("m{n}-{my_table}"), 1)],
        2,
        Duration::from_secs(30),
    );
    assert_eq!(read.len(), 2);
    let p = &read[0].value["payload"];
    // An unsigned BIGINT column is a decimal column, whatever the row's value.
    assert_eq!(p["id"], "1");
    assert!(p["price"].is_null() && p["stamp"].is_null(), "{p}");
    let p = &read[1].value["payload"];
    assert_eq!(
        p["id"], "18446744073709551615",
        "beyond i64, exactly, as a decimal string"
    );
    assert_eq!(p["price"], "12.500");
    assert_eq!(p["flag"], true);
    assert_eq!(p["at"], "2026-11-30T10:00:00.500000");
    assert_eq!(p["stamp"], "2026-11-30T10:00:00.250000+00:00");
    assert_eq!(p["raw"], "AP8=");
    let doc: serde_json::Value = serde_json::from_str(p["doc"].as_str().unwrap()).unwrap();
    assert_eq!(doc, serde_json::json!({"a": [1, 2]}));
    let fields = read[1].value["schema"]["fields"].as_array().unwrap();
    let price = fields.iter().find(|f| f["field"] == "price").unwrap();
    assert_eq!(price["parameters"]["scale"], "3");

    for table in &tables {
        exec!(&pg, format!("DROP TABLE {table}"));
    }
    exec!(&maria, format!("DROP TABLE {my_table}"));
}
