//! Scale-out: three connectd workers in one group share two connectors' tasks through Kafka's
//! group membership. One worker also serves the broker; the other two reach it over the wire
//! (`mode = "kafka"`). A worker killed with kill -9 loses its tasks to the others within the
//! session timeout, and gets a fair share back when it returns, while the tasks that do not
//! move keep running. The source is exactly-once throughout, the sink loses nothing, and no
//! task ever runs on two workers at once (from the records the tasks wrote, and from the
//! status topic).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::support::{Connectd, WORKER, read_all, read_to_end};

/// The `[cluster]` section of the test workers, with this session timeout.
fn group(session: Duration) -> String {
    format!(
        "[cluster]\ngroup_id = \"connectd-test\"\nsession_timeout_ms = {}\nheartbeat_interval_ms = 500\n",
        session.as_millis()
    )
}
const TOPIC: &str = "scaled";
const PER_TASK: u64 = 30_000;

/// Where each task of each connector runs now, from a worker's REST API:
/// (connector, task) → worker id, for RUNNING tasks.
fn running(api: &str) -> BTreeMap<(String, u64), String> {
    let mut out = BTreeMap::new();
    for name in ["gen", "sink"] {
        let Ok(resp) = ureq::get(&format!("{api}/connectors/{name}/status")).call() else {
            continue;
        };
        let v: serde_json::Value = resp.into_json().unwrap();
        for t in v["tasks"].as_array().into_iter().flatten() {
            if t["state"] == "RUNNING" {
                out.insert(
                    (name.to_string(), t["id"].as_u64().unwrap()),
                    t["worker_id"].as_str().unwrap().to_string(),
                );
            }
        }
    }
    out
}

/// How many tasks each worker runs.
fn spread(tasks: &BTreeMap<(String, u64), String>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for w in tasks.values() {
        *out.entry(w.clone()).or_default() += 1;
    }
    out
}

/// Waits until all 6 tasks run, 2 on each of `workers`; returns when it happened.
fn wait_for_spread(
    api: &str,
    workers: &[String],
    timeout: Duration,
    logs: &[&Connectd],
) -> BTreeMap<(String, u64), String> {
    let start = Instant::now();
    loop {
        let now = running(api);
        let s = spread(&now);
        if now.len() == 6 && workers.iter().all(|w| s.get(w) == Some(&2)) {
            return now;
        }
        if start.elapsed() > timeout {
            for w in logs {
                eprintln!("worker log:\n{}", group_lines(w));
            }
            panic!("tasks never spread 2/2/2 over {workers:?}: {now:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every status record in `connectd-status`, in order: (key, worker, generation, state).
fn status_records(bootstrap: &str) -> Vec<(String, String, i64, String)> {
    read_to_end(bootstrap, "connectd-status", 1)
        .into_iter()
        .filter(|r| !r.value.is_null())
        .map(|r| {
            let v = &r.value;
            (
                r.key.clone(),
                v["worker_id"].as_str().unwrap_or("").to_string(),
                v["generation"].as_i64().unwrap_or(0),
                v["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// A worker's log lines about the group and its tasks (for failure messages).
fn group_lines(w: &Connectd) -> String {
    w.log_text()
        .lines()
        .filter(|l| {
            ["group", "assign", "task", "fenced", "heartbeat"]
                .iter()
                .any(|k| l.contains(k))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Task starts in the status topic: RUNNING records of tasks (key `connector/n`).
fn task_starts(records: &[(String, String, i64, String)]) -> usize {
    records
        .iter()
        .filter(|(k, _, _, s)| k.contains('/') && s == "RUNNING")
        .count()
}

const PLUGINS: &[(&str, &str)] = &[
    ("connectd-datagen-source", "datagen-source"),
    ("connectd-file-sink", "file-sink"),
];

/// A worker of the group using the cluster at `bootstrap` (no broker of its own).
fn member(bootstrap: &str, session: Duration) -> Connectd {
    Connectd::start_with(
        WORKER,
        &format!(
            "mode = \"kafka\"\nbootstrap_servers = \"{bootstrap}\"\n{}",
            group(session)
        ),
        |dir| crate::connectors::install(dir, PLUGINS),
    )
}

#[test]
fn three_workers_share_tasks_fail_over_and_rebalance_back() {
    // Worker 1 serves the broker and is a member; workers 2 and 3 use it over the wire.
    let session = Duration::from_millis(3000);
    let w1 = Connectd::start_with(WORKER, &group(session), |dir| {
        crate::connectors::install(dir, PLUGINS)
    });
    w1.cli(
        &["topics", "create", "--topic", TOPIC, "--partitions", "3"],
        None,
    );
    let bootstrap = w1.bootstrap();
    let w2 = member(&bootstrap, session);
    let w3 = member(&bootstrap, session);
    scenario(
        &bootstrap,
        [w1, w2, w3],
        session + Duration::from_secs(3),
        true,
    );
}

/// The same over SASL_SSL with SCRAM-SHA-512: worker 1's broker has a SASL_SSL listener its
/// own membership joins through (`worker_listener`), as the admin user, the workers'
/// principal; workers 2 and 3 reach it with the same credentials in `[kafka]`, for their
/// librdkafka clients and their group membership alike. The PLAINTEXT listener is the test's
/// window for reading what the tasks wrote (anonymous clients from 127.0.0.1 are trusted).
#[test]
fn three_workers_over_sasl_ssl_share_tasks_fail_over_and_rebalance_back() {
    let session = Duration::from_millis(3000);
    let sasl_port = crate::support::free_port();
    let w1 = Connectd::start_with_env(
        WORKER,
        "",
        &format!(
            "listeners = [\"PLAINTEXT://127.0.0.1:{{port}}\", \"SASL_SSL://127.0.0.1:{sasl_port}\"]\n\
             worker_listener = \"SASL_SSL\"\n\
             allow_everyone_if_no_acl_found = true\n\
             internal_allowed_clients = [\"127.0.0.1\"]\n\
             [broker.ssl]\ncertificate = \"broker.pem\"\nkey = \"broker.key\"\n\
             [broker.sasl]\nadmin_user = \"admin\"\nadmin_password = \"${{env:ADMIN_PASSWORD}}\"\n{}",
            group(session)
        ),
        &[("ADMIN_PASSWORD", "workers-s3cret")],
        |dir| {
            crate::broker_security::make_certificates(dir);
            crate::connectors::install(dir, PLUGINS)
        },
    );
    w1.cli(
        &["topics", "create", "--topic", TOPIC, "--partitions", "3"],
        None,
    );
    let ca = w1.dir.path().join("ca.pem");
    let secured = |session| {
        Connectd::start_with(
            WORKER,
            &format!(
                "mode = \"kafka\"\nbootstrap_servers = \"localhost:{sasl_port}\"\n\
                 [kafka]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanisms\" = \"SCRAM-SHA-512\"\n\
                 \"sasl.username\" = \"admin\"\n\"sasl.password\" = \"workers-s3cret\"\n\"ssl.ca.location\" = \"{}\"\n{}",
                ca.display(),
                group(session)
            ),
            |dir| crate::connectors::install(dir, PLUGINS),
        )
    };
    let (w2, w3) = (secured(session), secured(session));
    let bootstrap = w1.bootstrap();
    scenario(
        &bootstrap,
        [w1, w2, w3],
        session + Duration::from_secs(3),
        true,
    );
}

/// The same with tansu 0.6 as the cluster (`cargo install tansu --features dynostore`, in
/// tests/setup), a Kafka-compatible broker no one here wrote, in memory on loopback; all three
/// workers use `mode = "kafka"`. tansu holds a follower's JoinGroup for 3 s and removes a
/// member silent for the session timeout meanwhile, so the session timeout here is 10 s, and
/// a failover takes up to two such holds more (README, "Scaling out").
#[test]
fn three_workers_on_tansu_share_tasks_fail_over_and_rebalance_back() {
    let session = Duration::from_millis(10_000);
    let tansu = crate::support::Tansu::start();
    crate::support::cli(
        &tansu.bootstrap,
        &["topics", "create", "--topic", TOPIC, "--partitions", "3"],
        None,
    );
    let workers = [
        member(&tansu.bootstrap, session),
        member(&tansu.bootstrap, session),
        member(&tansu.bootstrap, session),
    ];
    // Not strict about how tasks move back: tansu shows the leader members' older metadata,
    // and a task was seen to move there and back before the group settled (README).
    scenario(
        &tansu.bootstrap,
        workers,
        session + Duration::from_secs(15),
        false,
    );
}

/// Two connectors of 3 tasks (a worker-stamping datagen source and a file sink), published
/// from worker 1's folder, spread 2/2/2; worker 2 is killed, its tasks must run elsewhere
/// within `failover_within`, and it is restarted; then every check. `strict`: the failover
/// moves only the dead worker's tasks, and the return exactly two, restarting no other.
fn scenario(bootstrap: &str, workers: [Connectd; 3], failover_within: Duration, strict: bool) {
    let [w1, mut w2, w3] = workers;
    let workers: Vec<String> = [&w1, &w2, &w3]
        .iter()
        .map(|w| format!("127.0.0.1:{}", w.api_port))
        .collect();
    // The connectors are files on worker 1 only: it publishes them to the group.
    let output = w1.dir.path().join("output/scaled.txt");
    std::fs::write(
        w1.dir.path().join("connectors.d/gen.toml"),
        format!(
            "plugin = \"datagen-source\"\ntopic = \"{TOPIC}\"\n\"tasks.max\" = 3\nrate = 1500\niterations = {PER_TASK}\n\"include.worker\" = true\n"
        ),
    )
    .unwrap();
    std::fs::write(
        w1.dir.path().join("connectors.d/sink.toml"),
        format!(
            "plugin = \"file-sink\"\ntopics = \"{TOPIC}\"\n\"tasks.max\" = 3\nfile = \"{}\"\n",
            output.display()
        ),
    )
    .unwrap();
    let before = wait_for_spread(
        &w3.api(),
        &workers,
        Duration::from_secs(60),
        &[&w1, &w2, &w3],
    );
    eprintln!("spread: {before:?}");
    // Every worker shows where every task runs (each follows connectd-status).
    assert_eq!(
        wait_for_spread(
            &w2.api(),
            &workers,
            Duration::from_secs(10),
            &[&w1, &w2, &w3]
        ),
        before
    );
    let listed = w2.cli(&["connectors", "status", "gen"], None);
    for ((connector, task), w) in &before {
        if connector == "gen" {
            assert!(
                listed.contains(&format!("gen\t{task}\tRUNNING\t{w}")),
                "`connectors status` names the worker of gen/{task}, {w}: {listed}"
            );
        }
    }
    let starts_stable = task_starts(&status_records(bootstrap));

    // kill -9 worker 2 (not the broker): its tasks run elsewhere within the session timeout.
    std::thread::sleep(Duration::from_secs(2));
    let moved: Vec<(String, u64)> = before
        .iter()
        .filter(|(_, w)| **w == workers[1])
        .map(|(t, _)| t.clone())
        .collect();
    w2.kill9();
    let killed = Instant::now();
    let after_kill = loop {
        let now = running(&w1.api());
        if moved
            .iter()
            .all(|t| now.get(t).is_some_and(|w| *w != workers[1]))
            && now.len() == 6
        {
            break now;
        }
        assert!(
            killed.elapsed() < failover_within + Duration::from_secs(10),
            "worker 2's tasks {moved:?} did not move: {now:?}\nworker 1:\n{}\nworker 3:\n{}",
            group_lines(&w1),
            group_lines(&w3)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let failover = killed.elapsed();
    eprintln!("failover took {failover:?}: {after_kill:?}");
    assert!(failover < failover_within, "failover took {failover:?}");
    let starts_failover = task_starts(&status_records(bootstrap));
    if strict {
        // Tasks that were not on worker 2 did not move, nor start again.
        for (t, w) in &before {
            if *w != workers[1] {
                assert_eq!(after_kill.get(t), Some(w), "{t:?} moved");
            }
        }
        assert_eq!(
            starts_failover - starts_stable,
            moved.len(),
            "only the dead worker's tasks started again"
        );
    }

    // Worker 2 returns: it gets two tasks back; the other four keep running.
    std::thread::sleep(Duration::from_secs(1));
    w2.restart();
    let back = wait_for_spread(
        &w1.api(),
        &workers,
        Duration::from_secs(30),
        &[&w1, &w2, &w3],
    );
    eprintln!("back: {back:?}");
    let unchanged = back
        .iter()
        .filter(|(t, w)| after_kill.get(*t) == Some(*w))
        .count();
    std::thread::sleep(Duration::from_secs(2));
    let records = status_records(bootstrap);
    // Each task that moved back showed UNASSIGNED, written by the worker that stopped it,
    // before its new worker started it. Not on tansu: there the returning worker was seen to
    // start a task whose worker had written no UNASSIGNED for it (README, "On tansu 0.6").
    for (task, to) in back.iter().filter(|_| strict) {
        let Some(from) = after_kill.get(task).filter(|from| *from != to) else {
            continue;
        };
        let key = format!("{}/{}", task.0, task.1);
        let last = |worker: &str, state: &str| {
            records
                .iter()
                .rposition(|(k, w, _, s)| *k == key && w == worker && s == state)
        };
        let (unassigned, started) = (last(from, "UNASSIGNED"), last(to, "RUNNING"));
        assert!(
            matches!((unassigned, started), (Some(u), Some(r)) if u < r),
            "{key} moved from {from} to {to}: UNASSIGNED by {from} at {unassigned:?}, RUNNING by {to} at {started:?}; its status records: {:?}",
            records
                .iter()
                .enumerate()
                .filter(|(_, r)| r.0 == key)
                .collect::<Vec<_>>()
        );
    }
    let restarts: Vec<_> = records
        .iter()
        .filter(|(k, _, _, s)| k.contains('/') && s == "RUNNING")
        .skip(starts_failover)
        .collect();
    eprintln!(
        "rebalancing back: {unchanged} tasks stayed where they were; task starts meanwhile: {restarts:?}"
    );
    if strict {
        assert_eq!(
            unchanged, 4,
            "only two tasks moved back: {after_kill:?} -> {back:?}"
        );
        assert_eq!(
            restarts.len(),
            2,
            "only the two tasks that moved back started again: {restarts:?}\nworker 1:\n{}\nworker 2:\n{}\nworker 3:\n{}",
            group_lines(&w1),
            group_lines(&w2),
            group_lines(&w3)
        );
    }

    // The source data reaches the topic exactly once; each task's records in each topic
    // partition, in offset order, come from one worker and generation after another, never
    // back. (Not across partitions: a kill -9 cuts each partition at its own place, and the
    // task that takes over fills each one from there, so ids sorted across partitions may
    // interleave the two workers.)
    let records = read_all(
        bootstrap,
        &[(TOPIC, 3)],
        3 * PER_TASK as usize,
        Duration::from_secs(120),
    );
    let mut seen: HashMap<(u64, u64), usize> = HashMap::new();
    // (task, partition) -> (offset, worker, generation) of each record.
    type Rows = Vec<(i64, String, i64)>;
    let mut by_task: BTreeMap<(u64, i32), Rows> = BTreeMap::new();
    for r in &records {
        let v = &r.value;
        let (task, id) = (v["task"].as_u64().unwrap(), v["id"].as_u64().unwrap());
        *seen.entry((task, id)).or_default() += 1;
        by_task.entry((task, r.partition)).or_default().push((
            r.offset,
            v["worker"].as_str().unwrap().to_string(),
            v["generation"].as_i64().unwrap(),
        ));
    }
    let doubled = seen.values().filter(|n| **n > 1).count();
    assert!(
        doubled == 0 && seen.len() as u64 == 3 * PER_TASK,
        "{} records, {} distinct, {doubled} doubled",
        records.len(),
        seen.len()
    );
    for ((task, partition), mut rows) in by_task {
        rows.sort();
        let mut segments: Vec<(String, i64)> = Vec::new();
        for (_, w, g) in rows {
            if segments.last() != Some(&(w.clone(), g)) {
                if let Some((_, last)) = segments.last() {
                    assert!(
                        g > *last,
                        "task {task}, partition {partition}: generation {g} of {w} after {segments:?}: two workers ran it"
                    );
                }
                segments.push((w, g));
            }
        }
        eprintln!("gen task {task} ran on {segments:?} in partition {partition}");
    }
    // From the status topic: per task, each start is under a later generation, or, for a
    // task that failed and was restarted by its own worker, the same generation on the same
    // worker: two workers never run it under one generation.
    let mut last: HashMap<String, (i64, String)> = HashMap::new();
    for (key, worker, generation, state) in status_records(bootstrap) {
        if key.contains('/')
            && state == "RUNNING"
            && let Some((before, by)) = last.insert(key.clone(), (generation, worker.clone()))
        {
            assert!(
                generation > before || (generation == before && worker == by),
                "{key} started on {worker} in generation {generation} after {before} on {by}"
            );
        }
    }
    // The sink (at least once) lost nothing.
    let deadline = Instant::now() + Duration::from_secs(60);
    let sunk = loop {
        let text = std::fs::read_to_string(&output).unwrap_or_default();
        let ids: HashSet<(u64, u64)> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| (v["task"].as_u64().unwrap(), v["id"].as_u64().unwrap()))
            .collect();
        if ids.len() as u64 == 3 * PER_TASK || Instant::now() > deadline {
            break ids.len();
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(sunk as u64, 3 * PER_TASK, "the sink wrote every record");
    // A connector created through one worker's REST API reaches every worker, and its tasks
    // spread over the group.
    let body = serde_json::json!({
        "name": "late",
        "config": {"plugin": "datagen-source", "topic": "late", "tasks.max": "3", "rate": "1"},
    });
    ureq::post(&format!("{}/connectors", w3.api()))
        .send_json(body)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status: Option<serde_json::Value> =
            ureq::get(&format!("{}/connectors/late/status", w1.api()))
                .call()
                .ok()
                .and_then(|r| r.into_json().ok());
        let workers: HashSet<String> = status
            .iter()
            .flat_map(|s| s["tasks"].as_array().cloned().unwrap_or_default())
            .filter(|t| t["state"] == "RUNNING")
            .map(|t| t["worker_id"].as_str().unwrap_or("").to_string())
            .collect();
        if workers.len() == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the REST-created connector's tasks did not spread over the 3 workers: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    restarts_reach_the_worker_that_runs_the_task(bootstrap, &w1, &workers, strict);
    drop((w1, w2, w3));
}

/// A REST restart through worker 1 of a task that runs on another worker restarts it there;
/// then a restart of the connector with its tasks restarts each task where it runs. Not
/// `strict` (tansu, where tasks were seen to move after the group looked settled), a restart
/// by whichever worker runs the task by then counts.
fn restarts_reach_the_worker_that_runs_the_task(
    bootstrap: &str,
    w1: &Connectd,
    workers: &[String],
    strict: bool,
) {
    let status: serde_json::Value = ureq::get(&format!("{}/connectors/late/status", w1.api()))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let runs_on: BTreeMap<u64, String> = status["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_u64().unwrap(),
                t["worker_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let restarts_of = |task: u64, worker: &str| {
        status_records(bootstrap)
            .iter()
            .filter(|(k, w, _, s)| {
                *k == format!("late/{task}") && (w == worker || !strict) && s == "RESTARTING"
            })
            .count()
    };
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let (task, worker) = runs_on
        .iter()
        .find(|(_, w)| **w != workers[0])
        .expect("a task of `late` on worker 2 or 3");
    let before = restarts_of(*task, worker);
    let answer = ureq::post(&format!(
        "{}/connectors/late/tasks/{task}/restart",
        w1.api()
    ))
    .call()
    .unwrap();
    assert_eq!(answer.status(), 204);
    wait_for(
        &format!("late/{task} was not restarted on {worker}, through worker 1's API"),
        &|| restarts_of(*task, worker) > before,
    );
    let before: BTreeMap<u64, usize> = runs_on
        .iter()
        .map(|(t, w)| (*t, restarts_of(*t, w)))
        .collect();
    let answer = ureq::post(&format!(
        "{}/connectors/late/restart?includeTasks=true",
        w1.api()
    ))
    .call()
    .unwrap();
    assert_eq!(answer.status(), 202);
    wait_for(
        &format!("not every task of `late` restarted where it runs: {runs_on:?}"),
        &|| runs_on.iter().all(|(t, w)| restarts_of(*t, w) > before[t]),
    );
}

/// Bad group settings give a clear error at start, or a clear, repeated log line while the
/// worker keeps serving; nothing hangs silently.
#[test]
fn bad_cluster_settings_are_named() {
    let broker = Connectd::start("");
    let bootstrap = broker.bootstrap();
    let start = |cluster: &str, worker: &str| {
        crate::support::kafka_worker(&bootstrap, worker, &format!("[cluster]\n{cluster}"))
    };
    let run = |config: &std::path::Path| {
        crate::support::run_tool(
            env!("CARGO_BIN_EXE_connectd"),
            &["--config", config.to_str().unwrap()],
            None,
        )
    };
    // Heartbeats too slow for the session timeout: refused at load, naming the key.
    let (_d, config) = start(
        "group_id = \"g\"\nsession_timeout_ms = 2000\nheartbeat_interval_ms = 1500",
        "",
    );
    let (ok, _, err) = run(&config);
    assert!(
        !ok && err.contains("heartbeat_interval_ms") && err.contains("worker.toml"),
        "{err}"
    );
    // An internal topic that cannot be created: the start fails naming it and its key.
    let (_d, config) = start(
        "group_id = \"g\"",
        "config_storage_topic = \"not a topic name\"",
    );
    let (ok, _, err) = run(&config);
    assert!(
        !ok && err.contains("not a topic name") && err.contains("config_storage_topic"),
        "{err}"
    );

    // A group id already used by consumers: the coordinator refuses the worker; it says so
    // and keeps serving (and retrying), running no task.
    let consumer: BaseConsumer = broker
        .client()
        .set("group.id", "shared-group")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    consumer.subscribe(&["connectd-status"]).unwrap();
    let joined = Instant::now();
    while consumer.assignment().unwrap().count() == 0 {
        consumer.poll(Duration::from_millis(100));
        assert!(
            joined.elapsed() < Duration::from_secs(20),
            "the consumer never joined"
        );
    }
    let (dir, config) = start("group_id = \"shared-group\"", "");
    let log = dir.path().join("connectd.log");
    let mut worker = std::process::Command::new(env!("CARGO_BIN_EXE_connectd"))
        .args(["--config", config.to_str().unwrap()])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        consumer.poll(Duration::from_millis(100));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("used by members of another kind") || Instant::now() > deadline {
            break text;
        }
    };
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker keeps running: {text}"
    );
    let _ = worker.kill();
    let _ = worker.wait();
    assert!(
        text.contains("used by members of another kind") && text.contains("shared-group"),
        "{text}"
    );
}
