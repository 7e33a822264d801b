//! The `connectd` binary: runs the worker (`--config worker.toml`) or one of the everyday
//! Kafka commands (topics, produce, consume, groups) against any bootstrap server.

mod cli;
mod config;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "connectd",
    version,
    about = "Kafka-compatible broker and connector runtime in one process"
)]
struct Args {
    /// Run the worker with this worker.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Create, list, describe, alter and delete topics.
    Topics(cli::topics::TopicsArgs),
    /// Produce lines from stdin, one record per line.
    Produce(cli::produce::ProduceArgs),
    /// Print records from a topic.
    Consume(cli::consume::ConsumeArgs),
    /// List and describe consumer groups.
    Groups(cli::groups::GroupsArgs),
    /// Create, list and delete SCRAM users (KIP-554).
    Users(cli::users::UsersArgs),
    /// Measure produce and consume throughput.
    Perf(cli::perf::PerfArgs),
    /// Manage a running worker's connectors through its REST API.
    Connectors(cli::connectors::ConnectorsArgs),
    /// List a worker's plugins, or check a plugin file.
    Plugins(cli::connectors::PluginsArgs),
}

fn main() -> Result<()> {
    let args = Args::parse();
    // The worker logs at info; the CLI commands stay quiet and report errors themselves
    // (librdkafka's own connection retries would otherwise flood the terminal).
    let default = if args.command.is_some() {
        "warn,librdkafka=off,rdkafka=off"
    } else {
        "info"
    };
    let directives = std::env::var("CONNECTD_LOG").unwrap_or_else(|_| default.to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // The filter can be swapped while the worker runs (`PUT /admin/loggers/...`).
    let (filter, reload) = tracing_subscriber::reload::Layer::new(filter);
    {
        use tracing_subscriber::prelude::*;
        tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .init();
    }
    let loggers = std::sync::Arc::new(connectd_api::loggers::Loggers::new(
        move |f| reload.reload(f).map_err(|e| e.to_string()),
        // A plain level is root's; anything more detailed starts root at INFO.
        &directives,
    ));
    if matches!(
        args.command,
        Some(Command::Topics(_) | Command::Produce(_) | Command::Consume(_) | Command::Groups(_))
    ) {
        stop_quietly_on_closed_stdout();
    }
    match (args.command, args.config) {
        (Some(Command::Topics(a)), _) => cli::topics::run(a),
        (Some(Command::Produce(a)), _) => cli::produce::run(a),
        (Some(Command::Consume(a)), _) => cli::consume::run(a),
        (Some(Command::Groups(a)), _) => cli::groups::run(a),
        (Some(Command::Users(a)), _) => cli::users::run(a),
        (Some(Command::Perf(a)), _) => cli::perf::run(a),
        (Some(Command::Connectors(a)), _) => cli::connectors::run(a),
        (Some(Command::Plugins(a)), _) => cli::connectors::run_plugins(a),
        (None, Some(path)) => run_worker(path, loggers),
        (None, None) => anyhow::bail!(
            "nothing to do: pass --config worker.toml to run the worker, or a command (see --help)"
        ),
    }
}

/// The everyday commands print to stdout, which is often piped into `head` or `grep -m1`.
/// When the reader goes away they stop quietly, as Unix tools do, instead of panicking on the
/// failed write: SIGPIPE gets its default action back (Rust ignores it). Only these commands:
/// their sockets are librdkafka's, which send with MSG_NOSIGNAL, and the worker must never be
/// stopped by a client that hung up.
fn stop_quietly_on_closed_stdout() {
    // SAFETY: restores a signal's default disposition; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run_worker(
    path: PathBuf,
    loggers: std::sync::Arc<connectd_api::loggers::Loggers>,
) -> Result<()> {
    let file = config::WorkerFile::load(&path)?;
    // Before anything records: handles made earlier would go to no recorder.
    let metrics = if file.api.metrics {
        connectd_broker::server::describe_metrics();
        Some(
            connectd_api::install_metrics()
                .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?,
        )
    } else {
        None
    };
    // Plugin I/O (the SQL and object-store capabilities) runs on a runtime of its own, with a
    // bounded blocking pool, so a connector's network or disk work never takes the threads
    // that serve the broker's clients and the REST API. Declared first, it is dropped last,
    // after the worker stopped.
    let io_runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("connectd-io")
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .context("starting the tokio runtime for plugin I/O")?;
    let io = io_runtime.handle().clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        // The embedded broker, unless the worker runs against a Kafka cluster.
        let mut broker_addr = None;
        let (broker, serving) = match &file.mode {
            config::BrokerMode::Embedded => {
                let reserved = reserved(&file);
                let bound = connectd_broker::BoundBroker::open(file.broker.clone(), &file.worker.data_dir).await?;
                if let Some(reserved) = reserved {
                    bound.broker().reserve(reserved);
                }
                broker_addr = Some(worker_listener(&file.broker, &bound.bound())?);
                tracing::info!(kafka = %bound.local_addr(), data_dir = %file.worker.data_dir.display(), "connectd running; Ctrl-C or SIGTERM stops it cleanly");
                let broker = bound.broker();
                (Some(broker), Some(tokio::spawn(bound.serve(stop_rx))))
            }
            config::BrokerMode::Kafka { bootstrap_servers } => {
                tracing::info!(kafka = %bootstrap_servers, "connectd running against a Kafka cluster, no embedded broker; Ctrl-C or SIGTERM stops it cleanly");
                (None, None)
            }
        };
        let mut api = None;
        // Checked when worker.toml was read.
        let kafka_security = connectd_cluster::ClientSecurity::from_properties(&file.kafka)?;
        let worker = match (&file.worker.plugin_dir, &file.worker.connectors_dir) {
            (Some(plugin_dir), Some(connectors_dir)) => {
                let settings = connectd_worker::WorkerSettings {
                    plugin_dir: plugin_dir.clone(),
                    connectors_dir: connectors_dir.clone(),
                    cache_dir: file.worker.data_dir.join("__meta").join("component-cache"),
                    limits: connectd_host::Limits {
                        memory_bytes: file.worker.task_memory_bytes,
                        call_timeout: std::time::Duration::from_millis(file.worker.task_call_timeout_ms),
                        wait_timeout: std::time::Duration::from_millis(file.worker.task_wait_timeout_ms),
                    },
                    config_providers: connectd_worker::ConfigProviders::new(
                        file.worker.config_providers_file_allowed_paths.clone().unwrap_or_default(),
                        file.worker.config_providers_env_allowlist_pattern.as_deref(),
                    )
                    .with_context(|| format!("{}: [worker]", path.display()))?,
                    grant_allowed_paths: file.worker.grant_allowed_paths.clone(),
                    store_policy: std::sync::Arc::new(connectd_host::StorePolicy {
                        s3_endpoints: file.worker.store_s3_endpoints.clone(),
                        aws_profiles: file.worker.store_aws_profiles.clone(),
                        hdfs_settings: file.worker.store_hdfs_settings.clone(),
                    }),
                    worker_id: file.api.advertised_listen.clone().unwrap_or_else(|| file.api.listen.clone()),
                    internal_topics: connectd_worker::InternalTopics {
                        offsets: file.worker.offset_storage_topic.clone(),
                        status: file.worker.status_storage_topic.clone(),
                        configs: file.worker.config_storage_topic.clone(),
                    },
                    io: io.clone(),
                    cluster: file.cluster.as_ref().map(|c| connectd_worker::ClusterSettings {
                        group_id: c.group_id.clone(),
                        bootstrap_servers: match (&file.mode, &broker) {
                            (config::BrokerMode::Kafka { bootstrap_servers }, _) => bootstrap_servers.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
                            // One worker is both the broker and a member: it joins over the wire.
                            (config::BrokerMode::Embedded, _) => broker_addr.iter().map(|(addr, _)| addr.clone()).collect(),
                        },
                        session_timeout: std::time::Duration::from_millis(c.session_timeout_ms),
                        heartbeat_interval: std::time::Duration::from_millis(c.heartbeat_interval_ms),
                        rebalance_timeout: std::time::Duration::from_millis(c.rebalance_timeout_ms),
                        security: match &file.mode {
                            config::BrokerMode::Kafka { .. } => kafka_security.clone(),
                            config::BrokerMode::Embedded => broker_addr.as_ref().map(|(_, security)| security.clone()).unwrap_or_default(),
                        },
                    }),
                };
                let backend: std::sync::Arc<dyn connectd_worker::backend::TopicBackend> = match (&file.mode, &broker) {
                    (config::BrokerMode::Kafka { bootstrap_servers }, _) => {
                        let (servers, properties) = (bootstrap_servers.clone(), file.kafka.clone());
                        let kafka = tokio::task::spawn_blocking(move || connectd_worker::backend::Kafka::connect(&servers, properties)).await?;
                        std::sync::Arc::new(kafka.context("connecting to the Kafka cluster")?)
                    }
                    (config::BrokerMode::Embedded, Some(broker)) => std::sync::Arc::new(connectd_worker::backend::Embedded::new(broker.clone())),
                    (config::BrokerMode::Embedded, None) => unreachable!("the embedded mode binds a broker"),
                };
                let started = tokio::task::spawn_blocking(move || connectd_worker::Worker::start(settings, backend)).await?;
                let worker = started.context("starting the connector worker")?;
                let services = connectd_api::Services {
                    control: worker.control(),
                    guard: connectd_api::guard::Guard::new(file.api.token.clone(), allowed_hosts(&file.api)),
                    metrics: metrics.clone(),
                    loggers,
                };
                api = Some(start_api(&file.api, services, stop_tx.subscribe()).await?);
                Some(worker)
            }
            _ if broker.is_none() => anyhow::bail!(
                "{}: [broker] mode = \"kafka\" runs no broker, so [worker] needs plugin_dir and connectors_dir: there is nothing else to do",
                path.display()
            ),
            _ => None,
        };
        wait_for_signal().await;
        tracing::info!("stopping");
        if let Some(w) = worker {
            tokio::task::spawn_blocking(move || w.stop()).await?;
        }
        let _ = stop_tx.send(true);
        if let Some(api) = api {
            api.await??;
        }
        if let Some(serving) = serving {
            serving.await??;
        }
        Ok(())
    })
}

/// The host names the API answers to besides IP addresses and `localhost`: those of
/// `listen` and `advertised_listen`, and `allowed_hosts`.
/// What `[broker] internal_allowed_clients` reserves: the worker's internal topics, its
/// Connect group and its sinks' groups (`connect-<name>`), for this process's own connections
/// and the listed addresses.
fn reserved(file: &config::WorkerFile) -> Option<connectd_broker::Reserved> {
    // A broker that authenticates always keeps them for the workers' principal.
    let clients = match &file.broker.internal_allowed_clients {
        Some(clients) => clients.clone(),
        None if file.broker.authenticates() => Vec::new(),
        None => return None,
    };
    let w = &file.worker;
    Some(connectd_broker::Reserved {
        topics: vec![
            w.offset_storage_topic.clone(),
            w.status_storage_topic.clone(),
            w.config_storage_topic.clone(),
        ],
        groups: file.cluster.iter().map(|c| c.group_id.clone()).collect(),
        group_prefixes: vec!["connect-".to_string()],
        clients,
        own: connectd_cluster::is_own_connection,
        principal: file
            .broker
            .sasl
            .admin_user
            .as_deref()
            .map(connectd_security::user_principal),
    })
}

/// Where this worker's own group membership joins its embedded broker, and how: the
/// advertised address of `[broker] worker_listener` (default the first listener), over TLS
/// that trusts the certificates of `[broker.ssl] certificate` and logging in as
/// `[broker.sasl] admin_user`.
fn worker_listener(
    config: &connectd_broker::BrokerConfig,
    bound: &[connectd_broker::listeners::Bound],
) -> Result<(String, connectd_cluster::ClientSecurity)> {
    let listener = bound
        .iter()
        .enumerate()
        .find(|(i, b)| config.is_worker_listener(*i, &b.name))
        .map(|(_, b)| b)
        .context("[broker] worker_listener names no bound listener")?;
    let addr = format!("{}:{}", listener.advertised.0, listener.advertised.1);
    let mut security = connectd_cluster::ClientSecurity::default();
    if listener.protocol.tls() {
        let ssl = config
            .ssl
            .as_ref()
            .context("[broker.ssl] is needed for a TLS listener")?;
        let tls = connectd_security::tls::client_config(Some(&ssl.certificate), None)
            .context("[broker] worker_listener: trusting [broker.ssl] certificate")?;
        security.tls = Some(std::sync::Arc::new(tls));
    }
    if listener.protocol.sasl() {
        let (Some(user), Some(password)) = (&config.sasl.admin_user, &config.sasl.admin_password)
        else {
            anyhow::bail!(
                "[broker] worker_listener {} authenticates with SASL: set [broker.sasl] admin_user and admin_password, which this worker logs in as",
                listener.name
            );
        };
        let mechanism = config
            .sasl
            .enabled_mechanisms
            .iter()
            .find_map(|m| connectd_security::scram::Mechanism::from_name(m))
            .context("[broker.sasl] enabled_mechanisms: the worker logs in with SCRAM; enable SCRAM-SHA-512 or SCRAM-SHA-256")?;
        security.sasl = Some(connectd_cluster::security::SaslLogin {
            mechanism: connectd_cluster::security::SaslMechanism::Scram(mechanism),
            user: user.clone(),
            password: password.clone(),
        });
    }
    Ok((addr, security))
}

fn allowed_hosts(section: &config::ApiSection) -> Vec<String> {
    let host = |authority: &str| connectd_api::guard::host_of(authority).to_ascii_lowercase();
    let mut hosts: Vec<String> = section
        .allowed_hosts
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    hosts.push(host(&section.listen));
    hosts.extend(section.advertised_listen.as_deref().map(host));
    hosts
}

/// Binds the REST API (`[api]`) and serves it until `stop` turns true.
async fn start_api(
    section: &config::ApiSection,
    services: connectd_api::Services,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(&section.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} for the REST API; set [api] listen in worker.toml to a free address",
                section.listen
            )
        })?;
    let local = listener.local_addr()?;
    let tls = match (&section.tls_cert, &section.tls_key) {
        (Some(cert), Some(key)) => Some(std::sync::Arc::new(
            connectd_security::tls::ServerTls::load(connectd_security::tls::ServerFiles {
                certificate: cert.clone(),
                key: key.clone(),
                truststore: None,
                client_auth: connectd_security::tls::ClientAuth::None,
            })
            .context("[api] tls_cert, tls_key")?,
        )),
        _ => None,
    };
    if section.token.is_none() {
        tracing::warn!(listen = %local, "the REST API has no token: anyone who reaches {local} can read configs and change connectors; set [api] token in worker.toml");
    }
    tracing::info!(listen = %local, https = tls.is_some(), "REST API ready");
    let router = connectd_api::router(services);
    let limits = connectd_api::Limits {
        max_connections: section.max_connections.max(1),
        header_timeout: std::time::Duration::from_millis(section.header_timeout_ms.max(1)),
        request_timeout: std::time::Duration::from_millis(section.request_timeout_ms.max(1)),
    };
    Ok(tokio::spawn(connectd_api::serve(
        listener,
        router,
        limits,
        tls,
        async move {
            let _ = stop.wait_for(|s| *s).await;
        },
    )))
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
