//! One worker's membership in the group: join, sync, heartbeat, and again, on a thread of
//! its own.
//!
//! Fencing: a member runs tasks only under the generation that assigned them. When the
//! coordinator says the member is unknown or its generation is stale, or when no heartbeat
//! has succeeded for the session timeout less one heartbeat interval (the coordinator removes
//! a member after the full session timeout), the member stops every task before it joins
//! again: by the time the coordinator gives its tasks to another member, it runs none.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use connectd_records::TaskId;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    SyncGroupRequest, join_group_request::JoinGroupRequestProtocol,
    leave_group_request::MemberIdentity, sync_group_request::SyncGroupRequestAssignment,
};
use kafka_protocol::protocol::StrBytes;

use crate::Error;
use crate::assignor::{self, MemberTasks};
use crate::client::Connection;
use crate::protocol::{Assignment, Metadata, from_wire, to_wire};

/// The group protocol type: Kafka Connect's, so a Kafka Connect cluster or a consumer group
/// that shares the group id is refused by the coordinator (INCONSISTENT_GROUP_PROTOCOL)
/// rather than mixed in.
pub const PROTOCOL_TYPE: &str = "connect";
/// The one protocol connectd members offer (its metadata is JSON, below).
pub const PROTOCOL_NAME: &str = "connectd-1";

/// API versions used (every Kafka since 2.3, connectd's broker and tansu serve them).
const FIND_COORDINATOR_V: i16 = 2;
const JOIN_GROUP_V: i16 = 5;
const SYNC_GROUP_V: i16 = 3;
const HEARTBEAT_V: i16 = 3;
const LEAVE_GROUP_V: i16 = 3;

/// How a worker takes part in the group.
#[derive(Debug, Clone)]
pub struct MembershipConfig {
    /// `host:port` of brokers to find the coordinator through.
    pub bootstrap_servers: Vec<String>,
    /// The group (`[cluster] group_id`).
    pub group_id: String,
    /// This worker's id (its REST `host:port`), sent as the client id and in the metadata.
    pub worker_id: String,
    /// Kafka's `session.timeout.ms`: a member silent this long is removed.
    pub session_timeout: Duration,
    /// Kafka's `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// Kafka's `rebalance.timeout.ms`: how long the coordinator waits for members to join
    /// again in a rebalance.
    pub rebalance_timeout: Duration,
    /// TLS and SASL of the connections to the brokers.
    pub security: crate::ClientSecurity,
}

/// What membership asks of the worker.
pub trait Tasks: Send + Sync + 'static {
    /// Every task that should run somewhere in the group, as this worker knows the connector
    /// configs (called on the leader, which first catches up with the configs topic).
    fn wanted(&self) -> BTreeSet<TaskId>;
    /// Run exactly `tasks` from now on, under `generation`: stop the others and return once
    /// they have stopped, then start the new ones, each only while `valid` holds (it turns
    /// false if the member learns meanwhile that it was removed from the group). Called on a
    /// thread of its own while the member keeps heartbeating.
    fn assign(&self, generation: i32, tasks: &BTreeSet<TaskId>, valid: &AtomicBool);
    /// Where the group stands, for status (e.g. an error that keeps this worker out).
    fn group_state(&self, state: GroupState);
}

/// The worker's place in the group, as status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupState {
    /// Joined: generation, leader's worker id, and how many members.
    Member {
        /// The generation.
        generation: i32,
        /// Whether this worker leads (computes assignments).
        leader: bool,
        /// Members in this generation (known to the leader only; 0 otherwise).
        members: usize,
    },
    /// Out of the group, and why (retrying).
    Out(String),
}

fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A running membership; [`Membership::leave`] (or drop) leaves the group.
pub struct Membership {
    shutdown: Arc<AtomicBool>,
    rejoin: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Membership {
    /// Starts taking part in the group on a thread of its own.
    pub fn start(config: MembershipConfig, tasks: Arc<dyn Tasks>) -> Result<Self, Error> {
        if config.bootstrap_servers.is_empty() {
            return Err(Error::Config("no bootstrap servers".into()));
        }
        if config.heartbeat_interval * 2 >= config.session_timeout {
            return Err(Error::Config(format!(
                "heartbeat_interval_ms ({}) must be under half of session_timeout_ms ({})",
                config.heartbeat_interval.as_millis(),
                config.session_timeout.as_millis()
            )));
        }
        let shutdown = Arc::new(AtomicBool::new(false));
        let rejoin = Arc::new(AtomicBool::new(false));
        let mut member = Member {
            config,
            tasks,
            conn: None,
            member_id: String::new(),
            generation: -1,
            owned: BTreeSet::new(),
            last_heartbeat: Instant::now(),
            shutdown: shutdown.clone(),
            rejoin: rejoin.clone(),
            asked: 0,
            owned_generation: -1,
            last_lead: None,
        };
        let thread = std::thread::Builder::new()
            .name("connectd-group".into())
            .spawn(move || member.run())
            .map_err(|e| Error::Config(format!("starting the group thread: {e}")))?;
        Ok(Membership {
            shutdown,
            rejoin,
            thread: Some(thread),
        })
    }

    /// A flag that, set, asks for a rebalance (the set of tasks changed: a connector was
    /// added, removed or resized).
    pub fn rejoin_flag(&self) -> Arc<AtomicBool> {
        self.rejoin.clone()
    }

    /// Stops every task and leaves the group, so the others take the tasks over at once.
    pub fn leave(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What one heartbeat said.
enum Beat {
    /// Still a member of this generation.
    Alive,
    /// A rebalance began: join again.
    Rebalance,
    /// No longer a member (unknown member id, stale generation).
    Fenced,
}

/// What happened while an assignment was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterAssign {
    /// Nothing: heartbeat on.
    Stable,
    /// A rebalance began: join again.
    Rejoin,
    /// The member was removed: stop every task, join again.
    Fenced,
}

/// What a step of the loop ended with.
enum Next {
    /// Join (again).
    Join,
    /// Find the coordinator again (after a connection error or NOT_COORDINATOR).
    Reconnect,
}

struct Member {
    config: MembershipConfig,
    tasks: Arc<dyn Tasks>,
    conn: Option<Connection>,
    member_id: String,
    generation: i32,
    owned: BTreeSet<TaskId>,
    /// When the last successful heartbeat (or join) was sent.
    last_heartbeat: Instant,
    shutdown: Arc<AtomicBool>,
    rejoin: Arc<AtomicBool>,
    /// Rebalances asked for (in the metadata).
    asked: u64,
    /// The generation `owned` was assigned in.
    owned_generation: i32,
    /// As leader: the last assignment it made, by member id, and its generation. A member
    /// whose metadata predates it is taken to run what it was given too (a coordinator that
    /// does not wait for every member to join again, like tansu's, shows older metadata).
    last_lead: Option<(i32, BTreeMap<String, BTreeSet<TaskId>>)>,
}

impl Member {
    fn request_timeout(&self) -> Duration {
        self.config.session_timeout.max(Duration::from_secs(5))
    }

    fn run(&mut self) {
        let mut next = Next::Reconnect;
        let mut backoff = Duration::from_millis(100);
        while !self.shutdown.load(Ordering::Relaxed) {
            self.fence_if_silent();
            let step = match next {
                Next::Reconnect => self.find_coordinator().map(|()| Next::Join),
                Next::Join => self
                    .join_and_sync()
                    .and_then(|()| self.heartbeat_until_rejoin()),
            };
            match step {
                Ok(n) => {
                    backoff = Duration::from_millis(100);
                    next = n;
                }
                Err(e) => {
                    let fatal = e.to_string();
                    tracing::warn!(group = %self.config.group_id, error = %fatal, "group membership: retrying");
                    self.tasks.group_state(GroupState::Out(fatal));
                    if matches!(
                        e,
                        Error::Io { .. } | Error::Protocol { .. } | Error::Coordinator(_)
                    ) {
                        self.conn = None;
                        next = Next::Reconnect;
                    } else {
                        next = Next::Join;
                    }
                    self.sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
        self.leave();
    }

    fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until && !self.shutdown.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20).min(d));
        }
    }

    /// How long after its last successful heartbeat a member stops its tasks: one interval
    /// before the coordinator may remove it.
    fn fence_after(&self) -> Duration {
        self.config
            .session_timeout
            .saturating_sub(self.config.heartbeat_interval)
    }

    /// Stops every task when this member may already have been removed from the group.
    fn fence_if_silent(&mut self) {
        if !self.owned.is_empty() && self.last_heartbeat.elapsed() >= self.fence_after() {
            tracing::warn!(
                group = %self.config.group_id,
                silent_ms = self.last_heartbeat.elapsed().as_millis() as u64,
                "no heartbeat reached the coordinator for nearly the session timeout; stopping every task (another worker may get them)"
            );
            self.revoke_all();
        }
    }

    fn revoke_all(&mut self) {
        if !self.owned.is_empty() {
            self.owned.clear();
            self.tasks
                .assign(-1, &BTreeSet::new(), &AtomicBool::new(false));
        }
    }

    fn conn(&mut self) -> Result<&mut Connection, Error> {
        self.conn
            .as_mut()
            .ok_or_else(|| Error::Coordinator("not connected".into()))
    }

    fn find_coordinator(&mut self) -> Result<(), Error> {
        let mut errors = Vec::new();
        for addr in self.config.bootstrap_servers.clone() {
            let found = Connection::connect(
                &addr,
                &self.config.worker_id,
                Duration::from_secs(5),
                &self.config.security,
            )
            .and_then(|mut c| {
                let req = FindCoordinatorRequest::default()
                    .with_key(str(&self.config.group_id))
                    .with_key_type(0);
                let resp = c.send(&req, FIND_COORDINATOR_V, self.request_timeout())?;
                if resp.error_code != 0 {
                    return Err(Error::Coordinator(format!(
                        "{addr}: FindCoordinator: {}",
                        error_name(resp.error_code)
                    )));
                }
                Ok(format!("{}:{}", resp.host, resp.port))
            });
            match found {
                Ok(coordinator) => {
                    let conn = Connection::connect(
                        &coordinator,
                        &self.config.worker_id,
                        Duration::from_secs(5),
                        &self.config.security,
                    )?;
                    tracing::info!(group = %self.config.group_id, coordinator = %coordinator, "found the group coordinator");
                    self.conn = Some(conn);
                    return Ok(());
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        Err(Error::Coordinator(format!(
            "no bootstrap server answered: {}",
            errors.join("; ")
        )))
    }

    fn metadata(&self) -> Bytes {
        let m = Metadata {
            worker: self.config.worker_id.clone(),
            owned: to_wire(&self.owned),
            asked: self.asked,
            generation: self.owned_generation,
        };
        Bytes::from(serde_json::to_vec(&m).expect("serialises"))
    }

    fn join_and_sync(&mut self) -> Result<(), Error> {
        let before = self.generation;
        let mut forced = false;
        loop {
            self.rejoin.store(false, Ordering::Relaxed);
            let req = JoinGroupRequest::default()
                .with_group_id(GroupId(str(&self.config.group_id)))
                .with_session_timeout_ms(self.config.session_timeout.as_millis() as i32)
                .with_rebalance_timeout_ms(self.config.rebalance_timeout.as_millis() as i32)
                .with_member_id(str(&self.member_id))
                .with_protocol_type(str(PROTOCOL_TYPE))
                .with_protocols(vec![
                    JoinGroupRequestProtocol::default()
                        .with_name(str(PROTOCOL_NAME))
                        .with_metadata(self.metadata()),
                ]);
            let timeout = self.config.rebalance_timeout + Duration::from_secs(5);
            let resp = self.conn()?.send(&req, JOIN_GROUP_V, timeout)?;
            match ResponseError::try_from_code(resp.error_code) {
                None => {}
                Some(ResponseError::MemberIdRequired) => {
                    self.member_id = resp.member_id.to_string();
                    continue;
                }
                Some(ResponseError::UnknownMemberId | ResponseError::IllegalGeneration) => {
                    self.member_id.clear();
                    self.revoke_all();
                    continue;
                }
                Some(ResponseError::RebalanceInProgress) => continue,
                Some(e) => return Err(self.join_error(e)),
            }
            if resp.generation_id == before && before >= 0 && !forced {
                // Kafka answers every rejoin with a new generation. A coordinator that only
                // starts one when a member's metadata changes (tansu) answered with the
                // current one: change the metadata and join again, once.
                self.asked += 1;
                forced = true;
                continue;
            }
            self.member_id = resp.member_id.to_string();
            self.generation = resp.generation_id;
            let leader = resp.leader == resp.member_id;
            let assignments = if leader {
                self.lead(&resp.members)
            } else {
                Vec::new()
            };
            let members = assignments.len();
            let req = SyncGroupRequest::default()
                .with_group_id(GroupId(str(&self.config.group_id)))
                .with_generation_id(self.generation)
                .with_member_id(str(&self.member_id))
                .with_protocol_type(Some(str(PROTOCOL_TYPE)))
                .with_protocol_name(Some(str(PROTOCOL_NAME)))
                .with_assignments(assignments);
            let (sent, resp) = loop {
                let sent = Instant::now();
                let resp = self.conn()?.send(&req, SYNC_GROUP_V, timeout)?;
                if resp.error_code != ResponseError::RebalanceInProgress.code() {
                    break (sent, resp);
                }
                // Kafka holds a follower's SyncGroup until the leader's arrives; some
                // coordinators (tansu) answer REBALANCE_IN_PROGRESS at once instead. A
                // heartbeat tells the two apart: still this generation, ask again; a new
                // rebalance, join again.
                std::thread::sleep(Duration::from_millis(100));
                match self.heartbeat_once()? {
                    Beat::Alive => continue,
                    Beat::Rebalance => break (sent, resp),
                    Beat::Fenced => {
                        self.revoke_all();
                        break (sent, resp);
                    }
                }
            };
            match ResponseError::try_from_code(resp.error_code) {
                None => {}
                Some(ResponseError::RebalanceInProgress) => continue,
                Some(ResponseError::UnknownMemberId | ResponseError::IllegalGeneration) => {
                    self.member_id.clear();
                    self.revoke_all();
                    continue;
                }
                Some(e) => return Err(self.join_error(e)),
            }
            let assignment: Assignment =
                serde_json::from_slice(&resp.assignment).map_err(|e| Error::Protocol {
                    addr: self.config.group_id.clone(),
                    what: format!("an assignment that is not connectd's: {e}"),
                })?;
            if assignment.for_another_view(self.generation, &self.member_id) {
                // The leader of that view may have given this member's tasks to others: stop
                // them all, and join again with changed metadata (tansu starts a new
                // generation only then).
                tracing::warn!(
                    group = %self.config.group_id,
                    generation = self.generation,
                    assigned_in = assignment.generation,
                    members = ?assignment.members,
                    member = %self.member_id,
                    "the coordinator answered with an assignment made for another view of the group; stopping every task and joining again"
                );
                self.revoke_all();
                self.asked += 1;
                continue;
            }
            let tasks = from_wire(assignment.tasks);
            let revoked = self.owned.difference(&tasks).count();
            let added = tasks.difference(&self.owned).count();
            tracing::info!(
                group = %self.config.group_id,
                generation = self.generation,
                leader = %assignment.leader,
                tasks = tasks.len(),
                added,
                revoked,
                "assignment"
            );
            // The coordinator counts this member alive from its SyncGroup on.
            self.last_heartbeat = sent;
            self.owned_generation = self.generation;
            let after = self.apply(&tasks)?;
            self.tasks.group_state(GroupState::Member {
                generation: self.generation,
                leader,
                members,
            });
            match after {
                // Removed from the group while it applied the assignment: every task stopped.
                AfterAssign::Fenced => {
                    self.revoke_all();
                    continue;
                }
                // The revoked tasks have stopped: join again so the leader can give them to
                // the members below their quota. Likewise if a rebalance began meanwhile.
                AfterAssign::Rejoin => continue,
                AfterAssign::Stable if revoked > 0 => continue,
                AfterAssign::Stable => return Ok(()),
            }
        }
    }

    /// The leader's part: every member's assignment.
    fn lead(
        &mut self,
        members: &[kafka_protocol::messages::join_group_response::JoinGroupResponseMember],
    ) -> Vec<SyncGroupRequestAssignment> {
        let mut views = Vec::new();
        let mut workers = BTreeMap::new();
        for m in members {
            let meta: Metadata = serde_json::from_slice(&m.metadata).unwrap_or_else(|e| {
                tracing::warn!(member = %m.member_id, error = %e, "a member's metadata is not connectd's; treating it as running nothing");
                Metadata::default()
            });
            workers.insert(m.member_id.to_string(), meta.worker.clone());
            let mut owned = from_wire(meta.owned);
            if let Some((generation, last)) = &self.last_lead
                && meta.generation < *generation
                && let Some(given) = last.get(m.member_id.as_str())
            {
                owned.extend(given.iter().cloned());
            }
            views.push(MemberTasks {
                member_id: m.member_id.to_string(),
                owned,
            });
        }
        let wanted = self.tasks.wanted();
        let out = assignor::assign(&views, &wanted);
        self.last_lead = Some((self.generation, out.clone()));
        let assigned: Vec<String> = out.keys().cloned().collect();
        tracing::info!(
            group = %self.config.group_id,
            generation = self.generation,
            members = members.len(),
            tasks = wanted.len(),
            spread = ?out.iter().map(|(m, t)| (workers.get(m).cloned().unwrap_or_default(), t.len())).collect::<Vec<_>>(),
            "leader assigned tasks"
        );
        out.into_iter()
            .map(|(member, tasks)| {
                let a = Assignment {
                    tasks: to_wire(&tasks),
                    leader: self.config.worker_id.clone(),
                    generation: self.generation,
                    members: assigned.clone(),
                };
                SyncGroupRequestAssignment::default()
                    .with_member_id(StrBytes::from_string(member))
                    .with_assignment(Bytes::from(serde_json::to_vec(&a).expect("serialises")))
            })
            .collect()
    }

    fn join_error(&self, e: ResponseError) -> Error {
        let group = &self.config.group_id;
        let what = match e {
            ResponseError::InconsistentGroupProtocol => format!(
                "group `{group}` is used by members of another kind (a Kafka Connect cluster or consumers?); give [cluster] group_id a group of its own"
            ),
            ResponseError::InvalidSessionTimeout => format!(
                "the coordinator refuses session_timeout_ms {} (outside its group.min.session.timeout.ms..group.max.session.timeout.ms)",
                self.config.session_timeout.as_millis()
            ),
            ResponseError::GroupAuthorizationFailed => {
                format!("not authorized to join group `{group}`")
            }
            ResponseError::NotCoordinator
            | ResponseError::CoordinatorNotAvailable
            | ResponseError::CoordinatorLoadInProgress => {
                return Error::Coordinator(format!("{e:?}"));
            }
            other => format!("{other:?}"),
        };
        Error::Group(what)
    }

    /// Applies an assignment (on a thread of its own, as stopping and starting tasks can take
    /// longer than a heartbeat interval) while heartbeating, so the coordinator keeps this
    /// member; then `self.owned` is `tasks`, or nothing if it was fenced meanwhile.
    fn apply(&mut self, tasks: &BTreeSet<TaskId>) -> Result<AfterAssign, Error> {
        let valid = Arc::new(AtomicBool::new(true));
        let worker = {
            let (handler, tasks, valid) = (self.tasks.clone(), tasks.clone(), valid.clone());
            let generation = self.generation;
            std::thread::Builder::new()
                .name("connectd-assign".into())
                .spawn(move || handler.assign(generation, &tasks, &valid))
                .map_err(|e| Error::Config(format!("starting the assignment thread: {e}")))?
        };
        self.owned = tasks.clone();
        let mut after = AfterAssign::Stable;
        while !worker.is_finished() {
            std::thread::sleep(Duration::from_millis(20));
            if Instant::now() < self.last_heartbeat + self.config.heartbeat_interval
                || after == AfterAssign::Fenced
            {
                continue;
            }
            match self.heartbeat_once() {
                Ok(Beat::Alive) => {}
                Ok(Beat::Rebalance) => after = AfterAssign::Rejoin,
                Ok(Beat::Fenced) => {
                    valid.store(false, Ordering::Relaxed);
                    after = AfterAssign::Fenced;
                }
                Err(_) if self.last_heartbeat.elapsed() >= self.fence_after() => {
                    valid.store(false, Ordering::Relaxed);
                    after = AfterAssign::Fenced;
                }
                Err(_) => {}
            }
        }
        let _ = worker.join();
        Ok(after)
    }

    /// One heartbeat. An error is a connection problem (the caller counts the silence).
    fn heartbeat_once(&mut self) -> Result<Beat, Error> {
        let req = HeartbeatRequest::default()
            .with_group_id(GroupId(str(&self.config.group_id)))
            .with_generation_id(self.generation)
            .with_member_id(str(&self.member_id));
        let sent = Instant::now();
        // Never wait past the moment this member must stop its tasks.
        let timeout = (self.last_heartbeat + self.fence_after())
            .saturating_duration_since(sent)
            .max(Duration::from_millis(200));
        let resp = match self.conn()?.send(&req, HEARTBEAT_V, timeout) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(group = %self.config.group_id, error = %e, "heartbeat failed");
                self.conn = None;
                return Err(e);
            }
        };
        match ResponseError::try_from_code(resp.error_code) {
            None => {
                self.last_heartbeat = sent;
                Ok(Beat::Alive)
            }
            Some(ResponseError::RebalanceInProgress) => {
                self.last_heartbeat = sent;
                Ok(Beat::Rebalance)
            }
            Some(
                ResponseError::UnknownMemberId
                | ResponseError::IllegalGeneration
                | ResponseError::FencedInstanceId,
            ) => {
                tracing::warn!(group = %self.config.group_id, generation = self.generation, code = resp.error_code, "fenced by the coordinator; stopping every task and joining again");
                if resp.error_code == ResponseError::UnknownMemberId.code() {
                    self.member_id.clear();
                }
                Ok(Beat::Fenced)
            }
            Some(
                ResponseError::NotCoordinator
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::CoordinatorLoadInProgress,
            ) => {
                self.conn = None;
                Err(Error::Coordinator(format!(
                    "heartbeat: {}",
                    error_name(resp.error_code)
                )))
            }
            Some(e) => Err(Error::Group(format!("heartbeat: {e:?}"))),
        }
    }

    /// Heartbeats until a rebalance starts, a rejoin is asked for, or the member is fenced.
    fn heartbeat_until_rejoin(&mut self) -> Result<Next, Error> {
        loop {
            let due = self.last_heartbeat + self.config.heartbeat_interval;
            while Instant::now() < due {
                if self.shutdown.load(Ordering::Relaxed) {
                    return Ok(Next::Join);
                }
                if self.rejoin.load(Ordering::Relaxed) {
                    tracing::info!(group = %self.config.group_id, "connectors changed; rebalancing");
                    self.asked += 1;
                    return Ok(Next::Join);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            match self.heartbeat_once() {
                Ok(Beat::Alive) => {}
                Ok(Beat::Rebalance) => return Ok(Next::Join),
                Ok(Beat::Fenced) => {
                    self.revoke_all();
                    return Ok(Next::Join);
                }
                // Unreachable: find the coordinator again, counting the silence from the
                // last success.
                Err(Error::Io { .. } | Error::Protocol { .. } | Error::Coordinator(_)) => {
                    self.conn = None;
                    return Ok(Next::Reconnect);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Stops every task and leaves the group (best effort: the session times out otherwise).
    fn leave(&mut self) {
        self.revoke_all();
        if self.member_id.is_empty() {
            return;
        }
        let req = LeaveGroupRequest::default()
            .with_group_id(GroupId(str(&self.config.group_id)))
            .with_members(vec![
                MemberIdentity::default().with_member_id(str(&self.member_id)),
            ]);
        if let Some(conn) = self.conn.as_mut() {
            match conn.send(&req, LEAVE_GROUP_V, Duration::from_secs(3)) {
                Ok(_) => tracing::info!(group = %self.config.group_id, "left the group"),
                Err(e) => {
                    tracing::warn!(group = %self.config.group_id, error = %e, "could not leave the group; the session will time out")
                }
            }
        }
    }
}

fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        Some(e) => format!("{e:?}"),
        None => format!("error {code}"),
    }
}
