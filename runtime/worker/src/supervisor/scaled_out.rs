//! The supervisor's part in a group of workers (`[cluster]`): which tasks the group gave
//! this worker, applying a new assignment, and publishing this worker's connector files to
//! `connectd-configs`, from which every worker of the group runs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use connectd_records::{ConnectorName, TaskId};

use super::Supervisor;
use super::desired::Desired;
use crate::connectors::config::Origin;
use crate::state::status::{State, TaskStatus};

impl Supervisor {
    /// Whether this worker runs task `task` of `connector` (scaled out: whether the group
    /// assigned it here).
    pub(super) fn runs(&self, connector: &ConnectorName, task: u32) -> bool {
        self.assigned.as_ref().is_none_or(|a| {
            a.contains(&TaskId {
                connector: connector.clone(),
                task,
            })
        })
    }

    /// Scaled out: applies the restart requests read from `connectd-configs` since the last
    /// call, to the tasks this worker runs (the other workers apply them to theirs).
    pub(crate) fn restart_requested(&mut self) {
        for request in self.configs.take_restarts() {
            tracing::info!(
                connector = request.connector,
                task = request.task,
                only_failed = request.only_failed,
                "restart requested"
            );
            self.restart(&request.connector, request.task, request.only_failed);
        }
    }

    /// Scaled out: a task this worker stopped because the group assigned it elsewhere shows
    /// UNASSIGNED until its new worker starts it (as in Kafka Connect), unless its connector
    /// stopped running here (deleted, paused, stopped) or no longer has that task.
    pub(crate) fn unassigned(&self, task: &TaskId) {
        let Some(r) = self.running.get(&task.connector) else {
            return;
        };
        if task.task as usize >= r.tasks.len() {
            return;
        }
        let status = TaskStatus {
            state: State::Unassigned,
            plugin: r.config.plugin.clone(),
            ..TaskStatus::default()
        };
        self.status.set(&task.connector, Some(task.task), status);
    }

    /// Every task of every connector this worker knows (what the group's leader assigns).
    pub(crate) fn wanted(&self) -> BTreeSet<TaskId> {
        self.known
            .iter()
            .filter_map(|(name, k)| Some((ConnectorName::new(name).ok()?, k.tasks_max)))
            .flat_map(|(connector, n)| {
                (0..n).map(move |task| TaskId {
                    connector: connector.clone(),
                    task,
                })
            })
            .collect()
    }

    /// Scaled out, the first half of a new assignment: stops the tasks not in `tasks` and
    /// returns their threads (and those of tasks stopped before and still finishing), for
    /// the caller to wait for outside the supervisor's lock, so that a task moves only after
    /// it stopped here. Until [`Supervisor::start_assigned`], only the tasks kept run here.
    pub(crate) fn revoke(&mut self, tasks: &BTreeSet<TaskId>) -> Vec<(TaskId, JoinHandle<()>)> {
        let kept = match &self.assigned {
            Some(before) => before.intersection(tasks).cloned().collect(),
            None => tasks.clone(),
        };
        self.assigned = Some(kept);
        let mut stopping = Vec::new();
        for r in self.running.values_mut() {
            for (id, (stop, thread)) in r.tasks.iter_mut().enumerate() {
                let task = TaskId {
                    connector: r.config.name.clone(),
                    task: id as u32,
                };
                if !tasks.contains(&task)
                    && let Some(t) = thread.take()
                {
                    self.status.stop_task(stop);
                    stopping.push((task, t));
                }
            }
        }
        let (gone, staying): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retiring)
            .into_iter()
            .partition(|(connector, task, _, _)| {
                !tasks.contains(&TaskId {
                    connector: connector.clone(),
                    task: *task,
                })
            });
        self.retiring = staying;
        stopping.extend(
            gone.into_iter()
                .map(|(connector, task, t, _)| (TaskId { connector, task }, t)),
        );
        stopping
    }

    /// Scaled out, the second half: runs exactly `tasks` from now on, under `generation`
    /// (-1: none, the group was lost), once the revoked ones have stopped.
    pub(crate) fn start_assigned(
        &mut self,
        generation: i32,
        tasks: BTreeSet<TaskId>,
        valid: &AtomicBool,
    ) {
        self.assigned = Some(tasks);
        let keys: Vec<ConnectorName> = self.running.keys().cloned().collect();
        if generation < 0 {
            return;
        }
        self.status.set_generation(generation);
        // Positions stored by whichever worker ran a task before.
        if let Err(e) = self.offsets.catch_up() {
            tracing::warn!(error = %e, "could not read connectd-offsets; tasks resume from what was read before");
        }
        for key in keys {
            let mut r = self.running.remove(&key).expect("listed");
            for id in 0..r.tasks.len() as u32 {
                if r.tasks[id as usize].1.is_some() || !self.runs(&r.config.name, id) {
                    continue;
                }
                if !valid.load(Ordering::Relaxed) {
                    // Removed from the group meanwhile: start nothing more.
                    break;
                }
                if id == 0 {
                    self.status
                        .set(&r.config.name, None, TaskStatus::running(&r.config.plugin));
                }
                match self.spawn_task(&r, id) {
                    Ok((stop, thread)) => {
                        tracing::info!(connector = %r.config.name, task = id, generation, "started task (assigned here)");
                        r.tasks[id as usize] = (stop, Some(thread));
                    }
                    Err(reason) => self.failed(&r.config.name, &r.config.plugin, reason),
                }
            }
            self.running.insert(key, r);
        }
    }

    /// Scaled out: writes the connectors of this worker's valid files to connectd-configs
    /// where the topic does not hold them as they are, and deletes those whose file this
    /// worker published and has since removed.
    pub(super) fn publish_files(&mut self, files: &[Desired]) {
        let stored = self.configs.connectors();
        let mut now = BTreeMap::new();
        for Desired {
            origin,
            raw,
            config,
            ..
        } in files
        {
            let (Origin::File(file), Ok(config)) = (origin, config) else {
                continue;
            };
            let name = config.name.to_string();
            let marker = file.display().to_string();
            let current = stored.get(&name);
            if current.is_none_or(|c| &c.properties != raw || c.file.as_ref() != Some(&marker)) {
                match self.configs.publish(&name, raw.clone(), Some(marker)) {
                    Ok(()) => {
                        tracing::info!(connector = %name, file = %file.display(), "published the connector file to the group")
                    }
                    Err(e) => {
                        tracing::error!(connector = %name, error = %e, "could not publish the connector file to connectd-configs")
                    }
                }
            }
            now.insert(name, file.clone());
        }
        for (name, file) in std::mem::take(&mut self.published) {
            let marker = file.display().to_string();
            let ours = stored.get(&name).and_then(|c| c.file.as_ref()) == Some(&marker);
            if !now.contains_key(&name) && ours {
                match self.configs.delete_connector(&name) {
                    Ok(()) => {
                        tracing::info!(connector = %name, file = %file.display(), "connector file removed; deleted the connector from the group")
                    }
                    Err(e) => {
                        tracing::error!(connector = %name, error = %e, "could not delete the connector from connectd-configs")
                    }
                }
            }
        }
        self.published = now;
    }
}
