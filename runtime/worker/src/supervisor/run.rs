//! Starting, restarting and stopping a connector's tasks.
//!
//! A config is checked once on its way in ([`Supervisor::prepare`]: its plugins found, every
//! key checked against their schemas) and runs as prepared; a reconcile that finds it
//! unchanged, on the same plugin versions, leaves it alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use connectd_host::Plugin;
use connectd_records::{ConnectorName, Kind};

use super::Supervisor;
use crate::connectors::config::{ConnectorConfig, Origin};
use crate::connectors::validate;
use crate::grants::{check_grant_paths, grants_for};
use crate::state::configs::TargetState;
use crate::state::internal_topics::InternalTopics;
use crate::state::status::{State, TaskStatus};
use crate::tasks::transform_stage::TransformSpec;
use crate::tasks::{sink, source};

/// What a stopped task's thread reports as it ends: the supervisor's last word on it (PAUSED,
/// STOPPED), written only once the thread has finished its call, so a task shows PAUSED only
/// when it writes nothing more (as Kafka Connect's task reports its own pause).
#[derive(Default)]
pub(super) struct Exit {
    ended: bool,
    status: Option<TaskStatus>,
}

/// A task thread's [`Exit`], shared with its supervisor.
pub(super) type ExitCell = Arc<std::sync::Mutex<Exit>>;

fn lock(cell: &ExitCell) -> std::sync::MutexGuard<'_, Exit> {
    cell.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connector config checked against the plugins it names, ready to start.
pub(crate) struct Prepared {
    /// Its config as read (`${...}` references unresolved).
    pub config: ConnectorConfig,
    plugin: Arc<Plugin>,
    transforms: Vec<TransformSpec>,
    /// The generation of its plugin, then of each transform's plugin.
    generations: Vec<u64>,
}

pub(super) struct RunningConnector {
    /// Its config as read (compared at each reconcile).
    pub config: ConnectorConfig,
    /// Its config as its tasks get it (references resolved, granted paths made absolute).
    resolved: ConnectorConfig,
    /// The generation of its plugin, then of each transform's plugin.
    generations: Vec<u64>,
    /// What it runs with, to start a task again.
    plugin: Arc<Plugin>,
    grants: connectd_host::Grants,
    transforms: Vec<TransformSpec>,
    /// Each task's stop flag and thread (none if it could not start), by task id.
    pub tasks: Vec<(Arc<AtomicBool>, Option<JoinHandle<()>>)>,
}

impl Supervisor {
    /// Checks a connector config as starting it would: its plugin exists and is a source or
    /// a sink, its transforms exist, and every key fits the schemas. The error names where
    /// the config comes from and every key that is wrong.
    pub(crate) fn prepare(&self, config: ConnectorConfig) -> Result<Prepared, String> {
        let found = self.find(&config)?;
        check_config(
            &config,
            &found.plugin,
            &found.transforms,
            &self.settings.internal_topics,
        )?;
        check_grant_paths(
            &found.plugin.descriptor().config_schema,
            &config,
            config.origin.folder(&self.settings.connectors_dir),
            &self.settings.grant_allowed_paths,
            true,
        )?;
        Ok(Prepared {
            config,
            plugin: found.plugin,
            transforms: found.transforms,
            generations: found.generations,
        })
    }

    /// Starts, restarts or stops one valid connector so it runs as its config, its plugins
    /// and its target state say. `prepared` is the same config, checked already (by the REST
    /// API, just before it stored it).
    pub(super) fn reconcile_one(
        &mut self,
        config: ConnectorConfig,
        target: TargetState,
        prepared: Option<Prepared>,
    ) {
        let (name, plugin) = (config.name.clone(), config.plugin.clone());
        if target != TargetState::Started {
            self.stop_connector(&name);
            let state = match target {
                TargetState::Paused => State::Paused,
                _ => State::Stopped,
            };
            let status = TaskStatus {
                state,
                trace: None,
                plugin: config.plugin.clone(),
                ..TaskStatus::default()
            };
            if self.runs(&name, 0) {
                self.status.set_changed(&name, None, status.clone());
            }
            for task in 0..config.tasks_max {
                if self.runs(&name, task) {
                    self.report_when_stopped(&name, task, status.clone());
                }
            }
            return;
        }
        let generations = self.find(&config).map(|found| found.generations);
        if let (Some(r), Ok(generations)) = (self.running.get(&name), &generations)
            && r.config == config
            && r.generations == *generations
        {
            return; // unchanged
        }
        let prepared = match prepared {
            Some(p) if Ok(&p.generations) == generations.as_ref() => Ok(p),
            _ => self.prepare(config),
        };
        if self.running.contains_key(&name) {
            tracing::info!(connector = %name, "connector or a plugin it uses changed; restarting its tasks");
            self.stop_connector(&name);
        }
        if let Err(reason) = prepared.and_then(|p| self.start_connector(p)) {
            self.failed(&name, &plugin, reason);
        }
    }

    fn start_connector(&mut self, prepared: Prepared) -> Result<(), String> {
        let Prepared {
            config,
            plugin,
            transforms,
            generations,
        } = prepared;
        let (connector, grants, transforms) = self.as_tasks_run(&config, &plugin, transforms)?;
        if plugin.descriptor().kind == Kind::Source
            && let Some(topic) = connector.values.get("topic")
        {
            // The topic exists from the start, even before the first record.
            self.backend
                .admin()
                .ensure_topic(topic, 1, &[])
                .map_err(|e| connector.redact(&e.to_string()))?;
        }
        if self.runs(&connector.name, 0) {
            self.status.set(
                &connector.name,
                None,
                TaskStatus::running(&connector.plugin),
            );
        }
        let mut running = RunningConnector {
            config,
            resolved: connector,
            generations,
            plugin,
            grants,
            transforms,
            tasks: Vec::new(),
        };
        for task_id in 0..running.config.tasks_max {
            if !self.runs(&running.config.name, task_id) {
                // Scaled out: another worker runs it (or nobody yet).
                running.tasks.push((Arc::new(AtomicBool::new(true)), None));
                continue;
            }
            let task = self.spawn_task(&running, task_id)?;
            running.tasks.push((task.0, Some(task.1)));
        }
        self.running.insert(running.config.name.clone(), running);
        Ok(())
    }

    /// A config as its tasks run it: its `${...}` references resolved (here, at every start
    /// and restart, and nowhere else: a rotated secret is read again), checked once resolved
    /// (no message quotes a value), its granted paths made absolute, and its grants.
    fn as_tasks_run(
        &self,
        config: &ConnectorConfig,
        plugin: &Plugin,
        mut transforms: Vec<TransformSpec>,
    ) -> Result<(ConnectorConfig, connectd_host::Grants, Vec<TransformSpec>), String> {
        let resolved = config.resolve(&self.settings.config_providers)?;
        for (spec, t) in transforms.iter_mut().zip(&resolved.transforms) {
            spec.config = t.clone();
        }
        check_config(
            &resolved,
            plugin,
            &transforms,
            &self.settings.internal_topics,
        )?;
        let base = config.origin.folder(&self.settings.connectors_dir);
        let (resolved, mut grants) = grants_for(
            &plugin.descriptor().config_schema,
            resolved,
            base,
            &self.settings.grant_allowed_paths,
        )?;
        grants.store_policy = self.settings.store_policy.clone();
        Ok((resolved, grants, transforms))
    }

    /// Starts task `task_id` of a connector on a thread of its own. Its thread first waits
    /// for any stopped thread of the same task still finishing (so two never overlap).
    pub(super) fn spawn_task(
        &mut self,
        running: &RunningConnector,
        task_id: u32,
    ) -> Result<(Arc<AtomicBool>, JoinHandle<()>), String> {
        let stop = Arc::new(AtomicBool::new(false));
        let name = &running.resolved.name;
        let (before, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retiring)
            .into_iter()
            .partition(|(c, t, _, _)| c == name && *t == task_id);
        self.retiring = others;
        let before: Vec<JoinHandle<()>> = before
            .into_iter()
            .map(|(_, _, thread, exit)| {
                // The successor reports for the task from now on.
                lock(&exit).status = None;
                thread
            })
            .collect();
        if before.iter().any(|thread| !thread.is_finished()) {
            // Until its previous run has finished its call, the task is not running yet
            // (not PAUSED either, as its status may still say).
            let waiting = TaskStatus {
                state: State::Restarting,
                trace: None,
                plugin: running.config.plugin.clone(),
                ..TaskStatus::default()
            };
            self.status.set(name, Some(task_id), waiting);
        }
        let connector = &running.resolved;
        let run: Box<dyn FnOnce() + Send> = if running.plugin.descriptor().kind == Kind::Source {
            let ctx = source::SourceTaskContext {
                connector: connector.clone(),
                task_id,
                plugin: running.plugin.clone(),
                backend: self.backend.clone(),
                offsets: self.offsets.clone(),
                status: self.status.clone(),
                grants: running.grants.clone(),
                limits: self.settings.limits.clone(),
                transforms: running.transforms.clone(),
                stop: stop.clone(),
                internal_topics: self.settings.internal_topics.clone(),
            };
            Box::new(move || source::run(ctx))
        } else {
            let ctx = sink::SinkTaskContext {
                connector: connector.clone(),
                task_id,
                plugin: running.plugin.clone(),
                backend: self.backend.clone(),
                status: self.status.clone(),
                grants: running.grants.clone(),
                limits: self.settings.limits.clone(),
                transforms: running.transforms.clone(),
                stop: stop.clone(),
            };
            Box::new(move || sink::run(ctx))
        };
        let stopped = stop.clone();
        let exit = ExitCell::default();
        let (last_word, status, task_name) = (exit.clone(), self.status.clone(), name.clone());
        let handle = std::thread::Builder::new()
            .name(format!("{}-{task_id}", connector.name))
            .spawn(move || {
                for thread in before {
                    let _ = thread.join();
                }
                if !stopped.load(Ordering::Relaxed) {
                    run()
                }
                let mut exit = lock(&last_word);
                exit.ended = true;
                if let Some(last) = exit.status.take() {
                    status.set(&task_name, Some(task_id), last);
                }
            })
            .map_err(|e| format!("starting a task thread: {e}"))?;
        self.exits.insert((name.clone(), task_id), exit);
        Ok((stop, handle))
    }

    /// Stops a task and sets its thread aside to finish its current call, unwaited.
    fn retire(
        &mut self,
        connector: &ConnectorName,
        task: u32,
        stop: &AtomicBool,
        thread: Option<JoinHandle<()>>,
    ) {
        self.status.stop_task(stop);
        self.retiring.retain(|(_, _, t, _)| !t.is_finished());
        let exit = self
            .exits
            .remove(&(connector.clone(), task))
            .unwrap_or_default();
        if let Some(thread) = thread {
            self.retiring.push((connector.clone(), task, thread, exit));
        }
    }

    /// Whether a task thread of connector `name` is still alive (running, or stopped and
    /// finishing its last call, its last offsets included).
    pub(crate) fn tasks_alive(&self, name: &str) -> bool {
        let running = self.running.iter().any(|(c, r)| {
            c.as_str() == name
                && r.tasks
                    .iter()
                    .any(|(_, t)| t.as_ref().is_some_and(|t| !t.is_finished()))
        });
        running
            || self
                .retiring
                .iter()
                .any(|(c, _, t, _)| c.as_str() == name && !t.is_finished())
    }

    /// Writes a stopped task's status once its thread has ended (at once if it has, or if it
    /// had none).
    fn report_when_stopped(&self, connector: &ConnectorName, task: u32, status: TaskStatus) {
        let pending = self
            .retiring
            .iter()
            .rev()
            .find(|(c, t, _, _)| c == connector && *t == task)
            .map(|(_, _, _, exit)| exit);
        if let Some(exit) = pending {
            let mut exit = lock(exit);
            if !exit.ended {
                exit.status = Some(status);
                return;
            }
        }
        self.status.set_changed(connector, Some(task), status);
    }

    /// Restarts the tasks of connector `name` (all, or only `task`; with `only_failed`, only
    /// those whose status is FAILED). Returns false if it is not running.
    pub(crate) fn restart(&mut self, name: &str, task: Option<u32>, only_failed: bool) -> bool {
        let Some(key) = self.running.keys().find(|k| k.as_str() == name).cloned() else {
            return false;
        };
        let status = self.status.snapshot();
        let mut running = self.running.remove(&key).expect("found above");
        let plugin = running.config.plugin.clone();
        let transforms = std::mem::take(&mut running.transforms);
        match self.as_tasks_run(&running.config, &running.plugin, transforms.clone()) {
            Ok((resolved, grants, transforms)) => {
                (running.resolved, running.grants, running.transforms) =
                    (resolved, grants, transforms);
            }
            Err(reason) => {
                // Its tasks run on as they were; the connector says why they did not restart.
                running.transforms = transforms;
                self.failed(name, &plugin, reason);
                self.running.insert(key, running);
                return true;
            }
        }
        let tasks = std::mem::take(&mut running.tasks);
        for (id, (stop, thread)) in tasks.into_iter().enumerate() {
            let id = id as u32;
            let failed = status
                .get(&format!("{name}/{id}"))
                .is_some_and(|s| s.state == State::Failed);
            if task.is_some_and(|t| t != id)
                || (only_failed && !failed)
                || !self.runs(&running.config.name, id)
            {
                running.tasks.push((stop, thread));
                continue;
            }
            self.retire(&running.config.name, id, &stop, thread);
            let restarting = TaskStatus {
                state: State::Restarting,
                trace: None,
                plugin: plugin.clone(),
                ..TaskStatus::default()
            };
            self.status.set(name, Some(id), restarting);
            match self.spawn_task(&running, id) {
                Ok((stop, thread)) => running.tasks.push((stop, Some(thread))),
                Err(reason) => {
                    self.failed(name, &plugin, reason);
                    running.tasks.push((stop, None));
                }
            }
            tracing::info!(connector = name, task = id, "restarted task");
        }
        self.running.insert(key, running);
        true
    }

    /// Stops a connector's tasks: once this returns they write no status, and each thread
    /// finishes its current call on its own ([`Supervisor::retire`]).
    pub(super) fn stop_connector(&mut self, name: &ConnectorName) {
        if let Some(r) = self.running.remove(name) {
            for (id, (stop, thread)) in r.tasks.into_iter().enumerate() {
                self.retire(&r.config.name, id as u32, &stop, thread);
            }
            tracing::info!(connector = %r.config.name, "stopped connector");
        }
    }

    /// Stops every task; returns their threads, for the caller to wait for outside the
    /// supervisor's lock.
    pub(crate) fn stop_all(&mut self) -> Vec<JoinHandle<()>> {
        let names: Vec<ConnectorName> = self.running.keys().cloned().collect();
        for name in names {
            self.stop_connector(&name);
        }
        std::mem::take(&mut self.retiring)
            .into_iter()
            .map(|(_, _, thread, _)| thread)
            .collect()
    }
}

/// Checks a connector's keys, and each transform's, against the config schema its plugin
/// describes ([`validate`]), before any task opens. The error names where the config comes
/// from and every key that is wrong.
fn check_config(
    config: &ConnectorConfig,
    plugin: &Plugin,
    transforms: &[TransformSpec],
    internal: &InternalTopics,
) -> Result<(), String> {
    let origin = &config.origin;
    if let Some(topic) = config
        .errors
        .dlq_topic
        .as_deref()
        .filter(|t| internal.contains(t))
    {
        return Err(format!(
            "{origin}: key `errors.deadletterqueue.topic.name`: {topic} is one of connectd's internal topics; choose another topic"
        ));
    }
    let schema_error = |plugin: &str, e: String| format!("{origin}: plugin {plugin:?}: {e}");
    let mut problems = validate::check(
        &plugin.descriptor().config_schema,
        &config.connector_pairs(),
        "",
    )
    .map_err(|e| schema_error(&config.plugin, e))?;
    let rest = matches!(origin, Origin::Rest(_));
    if rest {
        problems.extend(
            validate::references_outside_secrets(
                &plugin.descriptor().config_schema,
                &config.connector_pairs(),
                "",
            )
            .map_err(|e| schema_error(&config.plugin, e))?,
        );
    }
    for t in transforms {
        let prefix = format!("transforms.{}.", t.config.alias);
        let schema = &t.plugin.descriptor().config_schema;
        problems.extend(
            validate::check(schema, &t.config.config, &prefix)
                .map_err(|e| schema_error(&t.config.plugin, e))?,
        );
        if rest {
            problems.extend(
                validate::references_outside_secrets(schema, &t.config.config, &prefix)
                    .map_err(|e| schema_error(&t.config.plugin, e))?,
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(validate::message(origin, &problems))
    }
}
