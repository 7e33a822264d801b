//! connectd's REST API: Kafka Connect's paths, bodies and status codes, so kcctl, UIs and
//! scripts written for Kafka Connect work unchanged. Every handler calls the worker's
//! [`Control`] handle (on a blocking thread: a change stops or starts task threads).
//!
//! Errors come back as Kafka Connect's `{"error_code": <http status>, "message": "..."}`,
//! malformed JSON, unknown paths and oversized bodies included. [`guard`] decides who may
//! call: the Host and Origin checks, and the token every route needs when one is set.

pub mod guard;
pub mod loggers;
mod serve;

pub use serve::{Limits, serve};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use connectd_worker::connectors::control::{Control, ControlError};
use connectd_worker::state::configs::TargetState;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use serde_json::{Value, json};

/// The largest request body accepted (a connector config is a few KiB).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// An error answer: `{"error_code", "message"}` with that HTTP status.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error_code": self.0.as_u16(), "message": self.1});
        (self.0, Json(body)).into_response()
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        let status = match &e {
            ControlError::NotFound(_) => StatusCode::NOT_FOUND,
            ControlError::Conflict(_) => StatusCode::CONFLICT,
            ControlError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ControlError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    /// Malformed JSON and JSON of the wrong shape are 400, as in Kafka Connect.
    fn from(e: JsonRejection) -> Self {
        let status = match &e {
            JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_) => {
                StatusCode::BAD_REQUEST
            }
            other => other.status(),
        };
        ApiError(status, e.body_text())
    }
}

type Answer = Result<Response, ApiError>;

/// What the API serves.
#[derive(Clone)]
pub struct Services {
    /// The worker's connectors.
    pub control: Control,
    /// Who may call (Host names, Origin, token).
    pub guard: guard::Guard,
    /// The metrics recorder `GET /metrics` renders (none: metrics are off).
    pub metrics: Option<PrometheusHandle>,
    /// The live log levels (`/admin/loggers`).
    pub loggers: Arc<loggers::Loggers>,
}

type Api = Services;

/// Runs `f` with the control handle on a blocking thread.
async fn blocking<T: Send + 'static>(
    api: &Api,
    f: impl FnOnce(Control) -> Result<T, ControlError> + Send + 'static,
) -> Result<T, ApiError> {
    let control = api.control.clone();
    tokio::task::spawn_blocking(move || f(control))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(ApiError::from)
}

fn ok(status: StatusCode, body: impl serde::Serialize) -> Answer {
    Ok((status, Json(body)).into_response())
}

/// The API over `services`, behind its [`guard`]. `GET /metrics` renders the metrics (404
/// when they are off); `GET /ui` is the status page.
pub fn router(services: Services) -> Router {
    let api = services;
    Router::new()
        .route("/", get(root))
        .route("/openapi.json", get(openapi))
        .route("/ui", get(ui))
        .route("/ui/cluster", get(cluster))
        .route("/metrics", get(prometheus))
        .route("/connectors", get(list).post(create))
        .route("/connectors/{name}", get(info).delete(delete))
        .route(
            "/connectors/{name}/config",
            get(config).put(put_config).patch(patch_config),
        )
        .route("/connectors/{name}/status", get(status))
        .route("/connectors/{name}/tasks", get(tasks))
        .route("/connectors/{name}/tasks/{task}/status", get(task_status))
        .route(
            "/connectors/{name}/tasks/{task}/restart",
            post(restart_task),
        )
        .route("/connectors/{name}/restart", post(restart))
        .route("/connectors/{name}/pause", put(pause))
        .route("/connectors/{name}/resume", put(resume))
        .route("/connectors/{name}/stop", put(stop))
        .route(
            "/connectors/{name}/offsets",
            get(offsets).patch(alter_offsets).delete(reset_offsets),
        )
        .route("/connectors/{name}/topics", get(topics))
        .route("/connectors/{name}/topics/reset", put(reset_topics))
        .route("/admin/loggers", get(loggers_all))
        .route("/admin/loggers/{logger}", get(logger).put(set_logger))
        .route("/connector-plugins", get(plugins))
        .route("/connector-plugins/{plugin}/config", get(plugin_config))
        .route("/connector-plugins/{plugin}/config/validate", put(validate))
        .fallback(|| async {
            ApiError(
                StatusCode::NOT_FOUND,
                "no such path; see GET /connectors and GET /connector-plugins".into(),
            )
        })
        .layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            guard::check,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(api)
}

/// Axum's own refusals (a body over the limit, a bad method) come as plain text: gives them
/// Kafka Connect's shape.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let body = axum::body::to_bytes(response.into_body(), 64 << 10)
            .await
            .unwrap_or_default();
        let message = String::from_utf8_lossy(&body).trim().to_string();
        let message = if message.is_empty() {
            status.canonical_reason().unwrap_or("error").to_string()
        } else {
            message
        };
        return ApiError(status, message).into_response();
    }
    response
}

/// Installs the process's metrics recorder: Prometheus text, with histogram buckets for
/// durations from 100 µs to 10 s. Call once, before anything records.
pub fn install_metrics() -> Result<PrometheusHandle, String> {
    const SECONDS: &[f64] = &[
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        5.0, 10.0,
    ];
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(SECONDS)
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())?;
    connectd_worker::metrics::describe();
    Ok(handle)
}

async fn prometheus(State(api): State<Api>) -> Answer {
    let Some(handle) = &api.metrics else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "metrics are off ([api] metrics = false in worker.toml)".into(),
        ));
    };
    let text = handle.render();
    let known: BTreeSet<String> = blocking(&api, |c| Ok(c.list()))
        .await?
        .into_iter()
        .collect();
    let text = without_deleted(&text, &known);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// The Prometheus text less the samples of connectors that no longer exist: the recorder
/// keeps a series once made, so a deleted connector's would otherwise stay (and come back
/// from where they were if a connector of that name is made again, as a counter may).
fn without_deleted(text: &str, known: &BTreeSet<String>) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let gone = !line.starts_with('#')
            && connector_label(line).is_some_and(|name| !known.contains(&name));
        if !gone {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The value of a sample line's `connector` label, unescaped (`\\`, `\"`, `\n`).
fn connector_label(line: &str) -> Option<String> {
    let labels = &line[line.find('{')?..];
    let start = labels
        .find("{connector=\"")
        .or_else(|| labels.find(",connector=\""))?;
    let mut value = String::new();
    let mut chars = labels[start..].split_once('"')?.1.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

/// The status page: one self-contained HTML file (no external assets) that polls this API.
async fn ui() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("ui.html"),
    )
        .into_response()
}

/// Topics and consumer groups, for the status page.
async fn cluster(State(api): State<Api>) -> Answer {
    let overview = blocking(&api, |c| c.overview()).await?;
    ok(StatusCode::OK, overview)
}

async fn loggers_all(State(api): State<Api>) -> Answer {
    let levels: BTreeMap<String, Value> = api
        .loggers
        .levels()
        .into_iter()
        .map(|(logger, level)| (logger, json!({"level": level})))
        .collect();
    ok(StatusCode::OK, levels)
}

async fn logger(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    let levels = api.loggers.levels();
    let target = name.replace('.', "::");
    let level = levels
        .get(&target)
        .or_else(|| levels.get(loggers::ROOT))
        .cloned()
        .unwrap_or_default();
    ok(StatusCode::OK, json!({"level": level}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelRequest {
    level: String,
}

async fn set_logger(
    State(api): State<Api>,
    Path(name): Path<String>,
    body: Result<Json<LevelRequest>, JsonRejection>,
) -> Answer {
    let Json(request) = body?;
    let changed = api
        .loggers
        .set(&name, &request.level)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    tracing::info!(logger = %name, level = %request.level, "log level changed");
    ok(StatusCode::OK, changed)
}

/// This API described in OpenAPI 3.0 (what `tests/python/fuzz_api.sh` fuzzes it from).
async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

async fn root() -> Answer {
    ok(
        StatusCode::OK,
        json!({"version": env!("CARGO_PKG_VERSION"), "commit": "", "kafka_cluster_id": "connectd"}),
    )
}

/// The values of `key` in a query string (`expand=status&expand=info`).
fn query_values<'a>(query: &'a Option<String>, key: &str) -> Vec<&'a str> {
    query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .collect()
}

fn query_flag(query: &Option<String>, key: &str) -> bool {
    query_values(query, key).contains(&"true")
}

async fn list(State(api): State<Api>, RawQuery(query): RawQuery) -> Answer {
    let expand: Vec<String> = query_values(&query, "expand")
        .into_iter()
        .map(str::to_string)
        .collect();
    if let Some(bad) = expand.iter().find(|e| *e != "status" && *e != "info") {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("expand={bad}: expected expand=status or expand=info"),
        ));
    }
    let body = blocking(&api, move |control| {
        if expand.is_empty() {
            return Ok(json!(control.list()));
        }
        let mut out = serde_json::Map::new();
        for (status, info) in control.all() {
            let mut entry = serde_json::Map::new();
            let name = info.name.clone();
            if expand.iter().any(|e| e == "status") {
                entry.insert("status".into(), json!(status));
            }
            if expand.iter().any(|e| e == "info") {
                entry.insert("info".into(), json!(info));
            }
            out.insert(name, Value::Object(entry));
        }
        Ok(Value::Object(out))
    })
    .await?;
    ok(StatusCode::OK, body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    name: Option<String>,
    config: BTreeMap<String, Value>,
    initial_state: Option<TargetState>,
}

/// A config map with Kafka Connect's string values (numbers and booleans are taken as their
/// text, as Kafka Connect does).
fn config_strings(config: BTreeMap<String, Value>) -> Result<BTreeMap<String, String>, ApiError> {
    config
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            Value::Number(n) => Ok((k, n.to_string())),
            Value::Bool(b) => Ok((k, b.to_string())),
            other => Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!("config key `{k}`: expected a string, number or boolean, got {other}"),
            )),
        })
        .collect()
}

async fn create(
    State(api): State<Api>,
    body: Result<Json<CreateRequest>, JsonRejection>,
) -> Answer {
    let Json(request) = body?;
    let name = request
        .name
        .or_else(|| {
            request
                .config
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .ok_or_else(|| {
            ApiError(
                StatusCode::BAD_REQUEST,
                "missing `name`: give the connector a name".into(),
            )
        })?;
    let config = config_strings(request.config)?;
    let initial = request.initial_state.unwrap_or_default();
    let info = blocking(&api, move |c| c.create(&name, config, initial)).await?;
    ok(StatusCode::CREATED, info)
}

async fn info(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    ok(
        StatusCode::OK,
        blocking(&api, move |c| c.info(&name)).await?,
    )
}

async fn delete(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    blocking(&api, move |c| c.delete(&name)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn config(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    ok(
        StatusCode::OK,
        blocking(&api, move |c| c.info(&name)).await?.config,
    )
}

async fn put_config(
    State(api): State<Api>,
    Path(name): Path<String>,
    body: Result<Json<BTreeMap<String, Value>>, JsonRejection>,
) -> Answer {
    let Json(config) = body?;
    let config = config_strings(config)?;
    let (created, info) = blocking(&api, move |c| c.put_config(&name, config)).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    ok(status, info)
}

async fn patch_config(
    State(api): State<Api>,
    Path(name): Path<String>,
    body: Result<Json<BTreeMap<String, Value>>, JsonRejection>,
) -> Answer {
    let Json(patch) = body?;
    let mut changes = BTreeMap::new();
    for (key, value) in patch {
        let value = match value {
            Value::Null => None,
            other => Some(
                config_strings(BTreeMap::from([(key.clone(), other)]))?
                    .remove(&key)
                    .unwrap_or_default(),
            ),
        };
        changes.insert(key, value);
    }
    ok(
        StatusCode::OK,
        blocking(&api, move |c| c.patch_config(&name, changes)).await?,
    )
}

async fn status(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    ok(
        StatusCode::OK,
        blocking(&api, move |c| c.status(&name)).await?,
    )
}

async fn tasks(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    let info = blocking(&api, move |c| c.info(&name)).await?;
    let tasks: Vec<Value> = info
        .tasks
        .iter()
        .map(|t| {
            let mut config = info.config.clone();
            config.insert("task.id".into(), t.task.to_string());
            json!({"id": t, "config": config})
        })
        .collect();
    ok(StatusCode::OK, tasks)
}

async fn task_status(State(api): State<Api>, Path((name, task)): Path<(String, String)>) -> Answer {
    let id = task_number(&name, &task)?;
    let status = blocking(&api, move |c| c.status(&name)).await?;
    let found = status
        .tasks
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                format!("Task {}-{id} not found", status.name),
            )
        })?;
    ok(StatusCode::OK, found)
}

fn task_number(name: &str, task: &str) -> Result<u32, ApiError> {
    task.parse().map_err(|_| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("Task {name}-{task} not found: a task is a number from 0"),
        )
    })
}

async fn restart_task(
    State(api): State<Api>,
    Path((name, task)): Path<(String, String)>,
) -> Answer {
    let id = task_number(&name, &task)?;
    blocking(&api, move |c| c.restart_task(&name, id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn restart(
    State(api): State<Api>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Answer {
    let include_tasks = query_flag(&query, "includeTasks");
    let only_failed = query_flag(&query, "onlyFailed");
    let status = blocking(&api, move |c| {
        c.restart(&name, include_tasks, only_failed)?;
        c.status(&name)
    })
    .await?;
    if include_tasks || only_failed {
        ok(StatusCode::ACCEPTED, status)
    } else {
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

async fn set_target(api: Api, name: String, target: TargetState, code: StatusCode) -> Answer {
    blocking(&api, move |c| c.set_target(&name, target)).await?;
    Ok(code.into_response())
}

async fn pause(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    set_target(api, name, TargetState::Paused, StatusCode::ACCEPTED).await
}

async fn resume(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    set_target(api, name, TargetState::Started, StatusCode::ACCEPTED).await
}

async fn stop(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    set_target(api, name, TargetState::Stopped, StatusCode::NO_CONTENT).await
}

async fn offsets(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    let all = blocking(&api, move |c| c.offsets(&name)).await?;
    let offsets: Vec<Value> = all
        .into_iter()
        .map(|(partition, offset)| json!({"partition": partition, "offset": offset}))
        .collect();
    ok(StatusCode::OK, json!({ "offsets": offsets }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OffsetsRequest {
    offsets: Vec<OffsetEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OffsetEntry {
    partition: Value,
    offset: Value,
}

async fn alter_offsets(
    State(api): State<Api>,
    Path(name): Path<String>,
    body: Result<Json<OffsetsRequest>, JsonRejection>,
) -> Answer {
    let Json(request) = body?;
    let changes = request
        .offsets
        .into_iter()
        .map(|e| (e.partition, (!e.offset.is_null()).then_some(e.offset)))
        .collect();
    blocking(&api, move |c| c.alter_offsets(&name, changes)).await?;
    ok(
        StatusCode::OK,
        json!({"message": "The offsets for this connector have been altered successfully"}),
    )
}

async fn reset_offsets(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    blocking(&api, move |c| c.reset_offsets(&name)).await?;
    ok(
        StatusCode::OK,
        json!({"message": "The offsets for this connector have been reset successfully"}),
    )
}

async fn topics(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    let key = name.clone();
    let topics = blocking(&api, move |c| c.topics(&key)).await?;
    let mut body = serde_json::Map::new();
    body.insert(name, json!({ "topics": topics }));
    ok(StatusCode::OK, body)
}

async fn reset_topics(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    blocking(&api, move |c| c.reset_topics(&name)).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn plugins(State(api): State<Api>, RawQuery(query): RawQuery) -> Answer {
    let connectors_only = !query_values(&query, "connectorsOnly").contains(&"false");
    let mut all = blocking(&api, |c| Ok(c.plugins())).await?;
    if connectors_only {
        all.retain(|p| p.kind != "transformation");
    }
    ok(StatusCode::OK, all)
}

async fn plugin_config(State(api): State<Api>, Path(plugin): Path<String>) -> Answer {
    let schema = blocking(&api, move |c| c.plugin_schema(&plugin)).await?;
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let keys: Vec<Value> = schema["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(name, spec)| {
                    json!({
                        "name": name,
                        "type": spec["type"].as_str().unwrap_or("string").to_uppercase(),
                        "required": required.contains(&name.as_str()),
                        "default_value": spec.get("default").map(|d| d.to_string()),
                        "documentation": spec.get("description").and_then(Value::as_str).unwrap_or_default(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    ok(StatusCode::OK, keys)
}

async fn validate(
    State(api): State<Api>,
    Path(plugin): Path<String>,
    body: Result<Json<BTreeMap<String, Value>>, JsonRejection>,
) -> Answer {
    let Json(config) = body?;
    let config = config_strings(config)?;
    let name = plugin.clone();
    let (problems, schema) = {
        let config = config.clone();
        blocking(&api, move |c| {
            Ok((c.validate(&plugin, &config)?, c.plugin_schema(&plugin)?))
        })
        .await?
    };
    let mut keys: Vec<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    keys.extend(problems.iter().map(|p| p.key.clone()));
    keys.sort();
    keys.dedup();
    let configs: Vec<Value> = keys
        .iter()
        .map(|key| {
            let errors: Vec<&str> = problems
                .iter()
                .filter(|p| &p.key == key)
                .map(|p| p.expected.as_str())
                .collect();
            json!({
                "definition": {"name": key},
                "value": {
                    "name": key,
                    "value": config.get(key),
                    "recommended_values": [],
                    "errors": errors,
                    "visible": true,
                }
            })
        })
        .collect();
    ok(
        StatusCode::OK,
        json!({
            "name": name,
            "error_count": problems.len(),
            "groups": ["Common"],
            "configs": configs,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_of_deleted_connectors_are_left_out() {
        let text = "# TYPE t counter\nt{connector=\"kept\",task=\"0\"} 5\nt{task=\"0\",connector=\"gone\"} 3\nt{connector=\"a\\\"b\\\\c\"} 1\nother 2\n";
        let known: BTreeSet<String> = ["kept".to_string(), "a\"b\\c".to_string()].into();
        assert_eq!(
            without_deleted(text, &known),
            "# TYPE t counter\nt{connector=\"kept\",task=\"0\"} 5\nt{connector=\"a\\\"b\\\\c\"} 1\nother 2\n"
        );
        assert_eq!(connector_label("t{xconnector=\"no\"} 1"), None);
    }
}
