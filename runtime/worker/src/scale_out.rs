//! Scaled out (`[cluster]`): this worker as a member of a group of workers sharing the
//! connectors' tasks ([`connectd_cluster`]), and the thread that follows the group's internal
//! topics.
//!
//! - Connector configs: every worker runs from `connectd-configs`; a worker publishes its own
//!   `connectors_dir` files there ([`crate::state::configs`]). A change by any worker (file or REST)
//!   reaches the others within [`FOLLOW_INTERVAL`], and when it changes the set of tasks a
//!   rebalance follows.
//! - Status: each worker writes its tasks' status with its worker id and generation, and
//!   reads the others' from `connectd-status`.
//! - Source positions: a task that moves resumes from what its previous worker stored; the
//!   exactly-once bookkeeping ([`crate::state::offsets`]) is all in topics, so it holds across
//!   workers as across restarts.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use connectd_cluster::{GroupState, Membership, MembershipConfig, Tasks};
use connectd_records::TaskId;

use crate::error::{Error, Result};
use crate::state::configs::ConfigStore;
use crate::state::status::Status;
use crate::supervisor::Supervisor;

/// How often a worker looks for config and status changes made by the others.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(500);

/// `[cluster]` settings.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// Workers with the same group id share the tasks.
    pub group_id: String,
    /// Brokers to find the group coordinator through.
    pub bootstrap_servers: Vec<String>,
    /// Kafka's `session.timeout.ms`.
    pub session_timeout: Duration,
    /// Kafka's `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// Kafka's `rebalance.timeout.ms`.
    pub rebalance_timeout: Duration,
    /// TLS and SASL of the membership's broker connections.
    pub security: connectd_cluster::ClientSecurity,
}

/// What the group asks of this worker, answered by its supervisor.
struct GroupTasks {
    supervisor: Arc<Mutex<Supervisor>>,
    configs: Arc<ConfigStore>,
}

impl GroupTasks {
    fn supervisor(&self) -> std::sync::MutexGuard<'_, Supervisor> {
        self.supervisor.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Tasks for GroupTasks {
    fn wanted(&self) -> BTreeSet<TaskId> {
        // The leader assigns from the newest configs it can read.
        let changed = self.configs.catch_up().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not read connectd-configs; assigning from what was read before");
            false
        });
        let mut sup = self.supervisor();
        if changed {
            sup.reconcile();
        }
        sup.wanted()
    }

    fn assign(&self, generation: i32, tasks: &BTreeSet<TaskId>, valid: &AtomicBool) {
        if generation >= 0 && self.configs.catch_up().unwrap_or(false) {
            self.supervisor().reconcile();
        }
        // Revoked tasks stop (each finishing its current call) before new ones start; the
        // wait is outside the supervisor's lock, so the REST API answers meanwhile.
        let stopping = self.supervisor().revoke(tasks);
        for (task, thread) in stopping {
            let _ = thread.join();
            tracing::info!(connector = %task.connector, task = task.task, generation, "stopped task (assigned elsewhere)");
            // Not when fenced (-1): another worker may run the task already.
            if generation >= 0 {
                self.supervisor().unassigned(&task);
            }
        }
        self.supervisor()
            .start_assigned(generation, tasks.clone(), valid);
    }

    fn group_state(&self, state: GroupState) {
        match state {
            GroupState::Member {
                generation,
                leader,
                members,
            } => tracing::info!(generation, leader, members, "member of the group"),
            GroupState::Out(why) => tracing::warn!(reason = %why, "out of the group"),
        }
    }
}

/// This worker's membership and the follower thread; dropping it leaves the group.
pub(crate) struct Cluster {
    membership: Option<Membership>,
    shutdown: Arc<AtomicBool>,
    follower: Option<JoinHandle<()>>,
}

impl Cluster {
    /// Joins the group and starts following the internal topics.
    pub(crate) fn start(
        settings: &ClusterSettings,
        worker_id: &str,
        supervisor: Arc<Mutex<Supervisor>>,
        configs: Arc<ConfigStore>,
        status: Arc<Status>,
    ) -> Result<Self> {
        let tasks = Arc::new(GroupTasks {
            supervisor: supervisor.clone(),
            configs: configs.clone(),
        });
        let config = MembershipConfig {
            bootstrap_servers: settings.bootstrap_servers.clone(),
            group_id: settings.group_id.clone(),
            worker_id: worker_id.to_string(),
            session_timeout: settings.session_timeout,
            heartbeat_interval: settings.heartbeat_interval,
            rebalance_timeout: settings.rebalance_timeout,
            security: settings.security.clone(),
        };
        let membership = Membership::start(config, tasks)?;
        let rejoin = membership.rejoin_flag();
        let shutdown = Arc::new(AtomicBool::new(false));
        let stop = shutdown.clone();
        let follower = std::thread::Builder::new()
            .name("connectd-follow".into())
            .spawn(move || {
                let mut wanted = supervisor
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .wanted();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(FOLLOW_INTERVAL);
                    let changed = configs.catch_up().unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "could not follow connectd-configs");
                        false
                    });
                    {
                        let mut supervisor = supervisor.lock().unwrap_or_else(|e| e.into_inner());
                        if changed {
                            supervisor.reconcile();
                        }
                        // Restart requests, read here or by the group's calls to `catch_up`.
                        supervisor.restart_requested();
                    }
                    if let Err(e) = status.catch_up() {
                        tracing::debug!(error = %e, "could not follow connectd-status");
                    }
                    // Tasks added or removed here (a file, a REST call, or another worker's):
                    // the group rebalances.
                    let now = supervisor
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .wanted();
                    if now != wanted {
                        rejoin.store(true, Ordering::Relaxed);
                        wanted = now;
                    }
                }
            })
            .map_err(|e| Error::Io {
                context: "starting the follower thread".into(),
                source: e,
            })?;
        Ok(Cluster {
            membership: Some(membership),
            shutdown,
            follower: Some(follower),
        })
    }

    /// Leaves the group (its tasks stop first, so the others take them at once).
    pub(crate) fn leave(&mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
        if let Some(f) = self.follower.take() {
            let _ = f.join();
        }
        if let Some(m) = self.membership.take() {
            m.leave();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.leave();
    }
}
