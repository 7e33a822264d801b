//! `connectd connectors ...` and `connectd plugins ...`: manage a running worker's connectors
//! through its REST API (Kafka Connect's paths), as kcctl or curl would. Tables by default,
//! the API's own JSON with `--output json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

/// Where the worker's REST API is.
#[derive(Args, Debug, Clone)]
pub struct Api {
    /// The worker's REST API (`[api] listen` in its worker.toml).
    #[arg(
        long = "api",
        default_value = "http://127.0.0.1:8083",
        env = "CONNECTD_API",
        global = true
    )]
    url: String,
    /// Bearer token, if the worker's API has one (`[api] token`).
    #[arg(
        long,
        env = "CONNECTD_API_TOKEN",
        global = true,
        hide_env_values = true
    )]
    token: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "table", global = true)]
    output: Output,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// Tab-separated columns with a header.
    Table,
    /// The API's JSON.
    Json,
}

#[derive(Args, Debug)]
pub struct ConnectorsArgs {
    #[command(flatten)]
    api: Api,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// List the connectors.
    List,
    /// Each connector's and task's state (RUNNING, PAUSED, FAILED, ...), worker and error.
    Status {
        /// Only this connector.
        name: Option<String>,
    },
    /// Create a connector from a file: a connector .toml (as in connectors_dir; its name is
    /// the file stem unless it sets `name`) or Kafka Connect's JSON `{"name", "config"}`.
    Create { file: PathBuf },
    /// Show a connector's config, or change keys of it with --set.
    Config {
        name: String,
        /// key=value to set (repeatable).
        #[arg(long = "set", value_parser = super::parse_key_value)]
        set: Vec<(String, String)>,
    },
    /// Pause a connector's tasks.
    Pause { name: String },
    /// Resume a paused or stopped connector.
    Resume { name: String },
    /// Stop a connector's tasks (its offsets can then be read or reset).
    Stop { name: String },
    /// Restart a connector's tasks, or one task.
    Restart {
        name: String,
        /// Only this task.
        #[arg(long)]
        task: Option<u32>,
        /// Only the tasks that FAILED.
        #[arg(long)]
        only_failed: bool,
    },
    /// Delete a connector created through the API.
    Delete { name: String },
    /// A connector's stored source offsets.
    Offsets { name: String },
}

#[derive(Args, Debug)]
pub struct PluginsArgs {
    #[command(flatten)]
    api: Api,
    #[command(subcommand)]
    action: PluginAction,
}

#[derive(Subcommand, Debug)]
enum PluginAction {
    /// The plugins the worker has loaded.
    List,
    /// Check that a .wasm file is a connector plugin connectd can load, and show what it
    /// describes (needs no worker).
    Validate { file: PathBuf },
    /// Print a plugin's config keys as a Markdown table (key, default, meaning) from the
    /// schema it describes itself with (needs no worker); `--worker` prints the keys the
    /// worker reads from every connector config.
    Describe {
        /// The plugin's .wasm file.
        #[arg(required_unless_present = "worker", conflicts_with = "worker")]
        file: Option<PathBuf>,
        /// The worker's own connector keys (`tasks.max`, `errors.*`, `transforms.*`).
        #[arg(long)]
        worker: bool,
    },
}

impl Api {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Option<Value>> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let mut request = ureq::request(method, &url);
        if let Some(token) = &self.token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let response = match body {
            Some(b) => request.send_json(b),
            None => request.call(),
        };
        let response = match response {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let body: Value = r.into_json().unwrap_or(Value::Null);
                let message = body["message"].as_str().unwrap_or("(no message)");
                bail!("{method} {path}: {code}: {message}");
            }
            Err(e) => bail!(
                "cannot reach the worker's REST API at {}: {e}; is connectd running with [api] listen there? (--api or CONNECTD_API)",
                self.url
            ),
        };
        if response.status() == 204 {
            return Ok(None);
        }
        let text = response.into_string().context("reading the API's answer")?;
        Ok(if text.trim().is_empty() {
            None
        } else {
            Some(serde_json::from_str(&text).context("the API's answer is not JSON")?)
        })
    }

    fn get(&self, path: &str) -> Result<Value> {
        Ok(self.call("GET", path, None)?.unwrap_or(Value::Null))
    }

    fn print(&self, value: &Value, table: impl FnOnce(&Value)) {
        match self.output {
            Output::Json => println!("{}", serde_json::to_string_pretty(value).expect("JSON")),
            Output::Table => table(value),
        }
    }
}

/// A path segment, percent-encoded.
fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// One line of a trace, for a table cell.
fn one_line(trace: &Value) -> String {
    text(trace).replace('\n', " ")
}

pub fn run(args: ConnectorsArgs) -> Result<()> {
    let api = &args.api;
    match args.action {
        Action::List => {
            let names = api.get("/connectors")?;
            api.print(&names, |v| {
                for n in v.as_array().into_iter().flatten() {
                    println!("{}", text(n));
                }
            });
        }
        Action::Status { name } => {
            let all = api.get("/connectors?expand=status")?;
            let mut statuses: Vec<Value> = all
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(n, _)| name.as_ref().is_none_or(|want| want == *n))
                .map(|(_, v)| v["status"].clone())
                .collect();
            if let Some(want) = &name
                && statuses.is_empty()
            {
                bail!("no connector {want}; `connectd connectors list` shows them");
            }
            statuses.sort_by_key(|s| text(&s["name"]));
            api.print(&json!(statuses), |_| {
                println!("CONNECTOR\tTASK\tSTATE\tWORKER\tTRACE");
                for s in &statuses {
                    let c = &s["connector"];
                    let name = text(&s["name"]);
                    let row = |task: String, st: &Value| {
                        println!(
                            "{name}\t{task}\t{}\t{}\t{}",
                            text(&st["state"]),
                            text(&st["worker_id"]),
                            one_line(&st["trace"])
                        )
                    };
                    row("-".into(), c);
                    for t in s["tasks"].as_array().into_iter().flatten() {
                        row(text(&t["id"]), t);
                    }
                }
            });
        }
        Action::Create { file } => {
            let body = create_body(&file)?;
            let info = api
                .call("POST", "/connectors", Some(body))?
                .unwrap_or_default();
            api.print(&info, |v| {
                println!("created {} ({})", text(&v["name"]), text(&v["type"]))
            });
        }
        Action::Config { name, set } => {
            let path = format!("/connectors/{}/config", seg(&name));
            let config = if set.is_empty() {
                api.get(&path)?
            } else {
                let patch: BTreeMap<String, String> = set.into_iter().collect();
                let info = api.call("PATCH", &path, Some(json!(patch)))?;
                info.map(|i| i["config"].clone()).unwrap_or_default()
            };
            api.print(&config, |v| {
                for (k, val) in v.as_object().into_iter().flatten() {
                    println!("{k}\t{}", text(val));
                }
            });
        }
        Action::Pause { name } => target(api, &name, "pause", "PAUSED")?,
        Action::Resume { name } => target(api, &name, "resume", "RUNNING")?,
        Action::Stop { name } => target(api, &name, "stop", "STOPPED")?,
        Action::Restart {
            name,
            task,
            only_failed,
        } => {
            let path = match task {
                Some(t) => format!("/connectors/{}/tasks/{t}/restart", seg(&name)),
                None => format!(
                    "/connectors/{}/restart?includeTasks=true&onlyFailed={only_failed}",
                    seg(&name)
                ),
            };
            api.call("POST", &path, None)?;
            eprintln!("restarting {name}");
        }
        Action::Delete { name } => {
            api.call("DELETE", &format!("/connectors/{}", seg(&name)), None)?;
            eprintln!("deleted {name}");
        }
        Action::Offsets { name } => {
            let offsets = api.get(&format!("/connectors/{}/offsets", seg(&name)))?;
            api.print(&offsets, |v| {
                println!("PARTITION\tOFFSET");
                for o in v["offsets"].as_array().into_iter().flatten() {
                    println!("{}\t{}", text(&o["partition"]), text(&o["offset"]));
                }
            });
        }
    }
    Ok(())
}

/// Pause, resume or stop, and say what the connector should now be.
fn target(api: &Api, name: &str, action: &str, state: &str) -> Result<()> {
    api.call("PUT", &format!("/connectors/{}/{action}", seg(name)), None)?;
    eprintln!("{name}: {state}");
    Ok(())
}

/// The body of `POST /connectors` from a connector file.
fn create_body(file: &std::path::Path) -> Result<Value> {
    if file.extension().is_some_and(|e| e == "json") {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let body: Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not valid JSON", file.display()))?;
        if !body["config"].is_object() {
            bail!(
                "{}: expected Kafka Connect's {{\"name\": ..., \"config\": {{...}}}}",
                file.display()
            );
        }
        return Ok(body);
    }
    let config = connectd_worker::connectors::config::read_file(file)?;
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let name = config.get("name").map_or(stem, String::as_str).to_string();
    Ok(json!({"name": name, "config": config}))
}

pub fn run_plugins(args: PluginsArgs) -> Result<()> {
    let api = &args.api;
    match args.action {
        PluginAction::List => {
            let plugins = api.get("/connector-plugins?connectorsOnly=false")?;
            api.print(&plugins, |v| {
                println!("PLUGIN\tTYPE\tVERSION");
                for p in v.as_array().into_iter().flatten() {
                    println!(
                        "{}\t{}\t{}",
                        text(&p["class"]),
                        text(&p["type"]),
                        text(&p["version"])
                    );
                }
            });
        }
        PluginAction::Describe { file, worker } => {
            let schema = match file {
                Some(file) => load_descriptor(&file)?.config_schema,
                None => {
                    debug_assert!(worker);
                    <connectd_worker::connectors::config::ConnectorKeys as connectd_config::Configurable>::schema()
                }
            };
            let table = super::keys::markdown(&schema)
                .context("the plugin's config schema is not a JSON Schema object")?;
            match api.output {
                Output::Json => println!("{schema}"),
                Output::Table => print!("{table}"),
            }
        }
        PluginAction::Validate { file } => {
            let d = load_descriptor(&file)?;
            let schema: Value = serde_json::from_str(&d.config_schema).unwrap_or(Value::Null);
            let described = json!({
                "file": file.display().to_string(),
                "class": d.name,
                "type": format!("{:?}", d.kind).to_lowercase(),
                "version": d.version,
                "config": schema,
            });
            api.print(&described, |v| {
                println!(
                    "{}: a valid {} plugin: {} {}",
                    file.display(),
                    text(&v["type"]),
                    text(&v["class"]),
                    text(&v["version"])
                );
                let required: Vec<String> = v["config"]["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(text)
                    .collect();
                for key in v["config"]["properties"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k)
                {
                    let mark = if required.contains(key) {
                        " (required)"
                    } else {
                        ""
                    };
                    println!("  {key}{mark}");
                }
            });
        }
    }
    Ok(())
}

/// What the plugin file describes itself as, loaded by a host of its own. Describing calls
/// no capability, so the host's I/O runtime is a small one that lives as long as the call.
fn load_descriptor(file: &Path) -> Result<connectd_records::Descriptor> {
    // A fresh private folder (random name, mode 0700) for the compiled-component cache: the
    // host loads native code from it, so it must not be one another user could prepare.
    let cache = tempfile::Builder::new()
        .prefix("connectd-describe-")
        .tempdir()
        .context("creating a folder for the compiled-component cache")?;
    let io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let host = connectd_host::Host::new(cache.path(), io.handle().clone())
        .context("starting the WebAssembly host")?;
    host.load(file)
        .map(|plugin| plugin.descriptor().clone())
        .map_err(|e| anyhow::anyhow!("{e}"))
}
