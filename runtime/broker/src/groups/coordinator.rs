//! The group coordinator. One mutex guards every group; it is never held across an await.
//! Waiting JoinGroup and SyncGroup requests park on oneshot channels that the state machine
//! completes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::ResponseError as E;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::offsets::{Committed, OffsetStore};
use crate::Result;

/// Kafka's `group.min.session.timeout.ms` and `group.max.session.timeout.ms`.
const MIN_SESSION_TIMEOUT_MS: i32 = 1_000;
const MAX_SESSION_TIMEOUT_MS: i32 = 1_800_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Empty => "Empty",
            State::PreparingRebalance => "PreparingRebalance",
            State::CompletingRebalance => "CompletingRebalance",
            State::Stable => "Stable",
        }
    }
}

/// What a JoinGroup gets back (error code 0 on success).
#[derive(Debug, Clone, Default)]
pub struct JoinResult {
    /// Kafka error code.
    pub error: i16,
    /// Generation the member joined.
    pub generation: i32,
    /// Chosen protocol (assignor) name.
    pub protocol: Option<String>,
    /// Group protocol type ("consumer").
    pub protocol_type: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// This member's id.
    pub member_id: String,
    /// For the leader only: every member's id, instance id and metadata.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

/// How a JoinGroup proceeds: answered at once, or after the rebalance completes.
enum JoinStart {
    Wait(oneshot::Receiver<JoinResult>),
    Done(JoinResult),
}

/// The arguments of a JoinGroup.
#[derive(Debug, Clone)]
pub struct JoinArgs {
    /// Group id.
    pub group: String,
    /// Member id, empty on the first join.
    pub member_id: String,
    /// Static membership id (`group.instance.id`).
    pub instance_id: Option<String>,
    /// Client id, for DescribeGroups.
    pub client_id: String,
    /// Client address, for DescribeGroups.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// Protocol type, e.g. "consumer".
    pub protocol_type: String,
    /// Supported protocols with their metadata, in preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+ requires a member id round trip (KIP-394).
    pub require_known_member_id: bool,
}

#[derive(Debug)]
struct Member {
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    last_heartbeat: Instant,
    join_waiter: Option<oneshot::Sender<JoinResult>>,
    sync_waiter: Option<oneshot::Sender<(i16, Bytes)>>,
}

#[derive(Debug)]
struct Group {
    state: State,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    members: IndexMap<String, Member>,
    pending: HashSet<String>,
    /// Bumped whenever a rebalance starts, so a stale timer does nothing.
    rebalance_epoch: u64,
}

impl Group {
    fn new() -> Self {
        Group {
            state: State::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: IndexMap::new(),
            pending: HashSet::new(),
            rebalance_epoch: 0,
        }
    }

    fn all_joined(&self) -> bool {
        self.members.values().all(|m| m.join_waiter.is_some())
    }

    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == *n))
            })
            .collect();
        // Each member votes for its most preferred candidate; most votes wins, ties by the
        // first member's preference.
        let mut votes: HashMap<&String, usize> = HashMap::new();
        for m in self.members.values() {
            if let Some((n, _)) = m.protocols.iter().find(|(p, _)| candidates.contains(&p)) {
                *votes.entry(n).or_default() += 1;
            }
        }
        candidates
            .iter()
            .max_by_key(|n| {
                (
                    votes.get(*n).copied().unwrap_or(0),
                    std::cmp::Reverse(candidates.iter().position(|c| c == *n)),
                )
            })
            .map(|n| (*n).clone())
    }
}

/// Summary of a group for DescribeGroups / ListGroups.
#[derive(Debug, Clone)]
pub struct GroupSummary {
    /// Group id.
    pub group: String,
    /// Kafka state name.
    pub state: &'static str,
    /// Protocol type.
    pub protocol_type: String,
    /// Chosen protocol.
    pub protocol: String,
    /// Members.
    pub members: Vec<MemberSummary>,
}

/// One member in a [`GroupSummary`].
#[derive(Debug, Clone)]
pub struct MemberSummary {
    /// Member id.
    pub member_id: String,
    /// Static instance id.
    pub instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Metadata for the chosen protocol.
    pub metadata: Bytes,
    /// Current assignment.
    pub assignment: Bytes,
}

/// The group coordinator of this broker.
#[derive(Debug)]
pub struct Coordinator {
    groups: Mutex<HashMap<String, Group>>,
    offsets: OffsetStore,
    initial_rebalance_delay: Duration,
}

impl Coordinator {
    /// A coordinator whose committed offsets live in `offsets`.
    pub fn new(offsets: OffsetStore, initial_rebalance_delay: Duration) -> Arc<Self> {
        let coordinator = Arc::new(Coordinator {
            groups: Mutex::new(HashMap::new()),
            offsets,
            initial_rebalance_delay,
        });
        let weak = Arc::downgrade(&coordinator);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let Some(c) = weak.upgrade() else { break };
                c.expire_sessions();
            }
        });
        coordinator
    }

    /// Committed offsets.
    pub fn offsets(&self) -> &OffsetStore {
        &self.offsets
    }

    /// JoinGroup. Resolves when the rebalance completes (or at once for errors).
    pub async fn join(self: &Arc<Self>, args: JoinArgs) -> JoinResult {
        let rx = match self.join_start(args) {
            JoinStart::Wait(rx) => rx,
            JoinStart::Done(result) => return result,
        };
        rx.await.unwrap_or_else(|_| JoinResult {
            error: E::RebalanceInProgress.code(),
            ..Default::default()
        })
    }

    fn join_start(self: &Arc<Self>, args: JoinArgs) -> JoinStart {
        let fail = |error: E, member_id: &str| {
            JoinStart::Done(JoinResult {
                error: error.code(),
                member_id: member_id.into(),
                ..Default::default()
            })
        };
        if args.group.is_empty() {
            return fail(E::InvalidGroupId, &args.member_id);
        }
        if !(MIN_SESSION_TIMEOUT_MS..=MAX_SESSION_TIMEOUT_MS).contains(&args.session_timeout_ms) {
            return fail(E::InvalidSessionTimeout, &args.member_id);
        }
        if args.protocol_type.is_empty() || args.protocols.is_empty() {
            return fail(E::InconsistentGroupProtocol, &args.member_id);
        }
        let mut groups = self.groups.lock();
        let group = groups.entry(args.group.clone()).or_insert_with(Group::new);
        if let Some(pt) = &group.protocol_type
            && !group.members.is_empty()
            && (pt != &args.protocol_type
                || !args.protocols.iter().any(|(n, _)| {
                    group
                        .members
                        .values()
                        .all(|m| m.protocols.iter().any(|(p, _)| p == n))
                }))
        {
            return fail(E::InconsistentGroupProtocol, &args.member_id);
        }
        let mut member_id = args.member_id.clone();
        if member_id.is_empty() {
            let new_id = format!(
                "{}-{}",
                if args.client_id.is_empty() {
                    "member"
                } else {
                    &args.client_id
                },
                uuid::Uuid::new_v4()
            );
            if let Some(instance) = &args.instance_id {
                // Static member coming back (KIP-345): the new id replaces the old one, which
                // is fenced. In a stable group, with the same protocols, and when it was not
                // the leader, it takes over its old assignment without a rebalance.
                if let Some(old) = group
                    .members
                    .values()
                    .find(|m| m.instance_id.as_deref() == Some(instance))
                    && group.state == State::Stable
                    && old.protocols == args.protocols
                    && group
                        .leader
                        .as_ref()
                        .and_then(|l| group.members.get(l))
                        .is_none_or(|l| l.instance_id.as_deref() != Some(instance))
                {
                    let old_id = group
                        .members
                        .iter()
                        .find(|(_, m)| m.instance_id.as_deref() == Some(instance))
                        .map(|(id, _)| id.clone())
                        .expect("found above");
                    let mut member = group.members.shift_remove(&old_id).expect("present");
                    member.last_heartbeat = Instant::now();
                    member.client_id = args.client_id.clone();
                    member.client_host = args.client_host.clone();
                    member.session_timeout = Duration::from_millis(args.session_timeout_ms as u64);
                    group.members.insert(new_id.clone(), member);
                    tracing::info!(group = %args.group, instance = %instance, member = %new_id, "static member rejoined; keeping its assignment");
                    return JoinStart::Done(JoinResult {
                        error: 0,
                        generation: group.generation,
                        protocol: group.protocol.clone(),
                        protocol_type: group.protocol_type.clone(),
                        leader: group.leader.clone().unwrap_or_default(),
                        member_id: new_id,
                        members: Vec::new(),
                    });
                }
                if let Some(old_id) = group
                    .members
                    .iter()
                    .find(|(_, m)| m.instance_id.as_deref() == Some(instance))
                    .map(|(id, _)| id.clone())
                    && let Some(mut old) = group.members.shift_remove(&old_id)
                {
                    if let Some(w) = old.join_waiter.take() {
                        let _ = w.send(JoinResult {
                            error: E::FencedInstanceId.code(),
                            ..Default::default()
                        });
                    }
                    if let Some(w) = old.sync_waiter.take() {
                        let _ = w.send((E::FencedInstanceId.code(), Bytes::new()));
                    }
                    if group.leader.as_deref() == Some(&old_id) {
                        group.leader = Some(new_id.clone());
                    }
                }
            } else if args.require_known_member_id {
                group.pending.insert(new_id.clone());
                return fail(E::MemberIdRequired, &new_id);
            }
            member_id = new_id;
        } else if !group.members.contains_key(&member_id) && !group.pending.remove(&member_id) {
            return fail(E::UnknownMemberId, &member_id);
        } else if let (Some(instance), Some(m)) = (&args.instance_id, group.members.get(&member_id))
            && m.instance_id.as_ref() != Some(instance)
        {
            return fail(E::FencedInstanceId, &member_id);
        }
        let (tx, rx) = oneshot::channel();
        let now = Instant::now();
        let rx_wait = JoinStart::Wait(rx);
        let member = group
            .members
            .entry(member_id.clone())
            .or_insert_with(|| Member {
                instance_id: args.instance_id.clone(),
                client_id: args.client_id.clone(),
                client_host: args.client_host.clone(),
                session_timeout: Duration::ZERO,
                rebalance_timeout: Duration::ZERO,
                protocols: Vec::new(),
                assignment: Bytes::new(),
                last_heartbeat: now,
                join_waiter: None,
                sync_waiter: None,
            });
        member.session_timeout = Duration::from_millis(args.session_timeout_ms as u64);
        member.rebalance_timeout =
            Duration::from_millis(args.rebalance_timeout_ms.max(args.session_timeout_ms) as u64);
        member.protocols = args.protocols;
        member.last_heartbeat = now;
        member.join_waiter = Some(tx);
        group.protocol_type = Some(args.protocol_type);
        tracing::debug!(group = %args.group, member = %member_id, state = group.state.name(), "join");
        match group.state {
            State::PreparingRebalance => {
                // Everybody in: finish now, unless the initial delay is still collecting members.
                if group.all_joined() && group.generation > 0 {
                    complete_join(&args.group, group);
                }
            }
            _ => self.prepare_rebalance(&args.group, group),
        }
        rx_wait
    }

    fn prepare_rebalance(self: &Arc<Self>, group_id: &str, group: &mut Group) {
        if group.state == State::CompletingRebalance {
            for m in group.members.values_mut() {
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.send((E::RebalanceInProgress.code(), Bytes::new()));
                }
            }
        }
        let initial = group.state == State::Empty;
        group.state = State::PreparingRebalance;
        group.rebalance_epoch += 1;
        let delay = if initial {
            self.initial_rebalance_delay
        } else {
            group
                .members
                .values()
                .map(|m| m.rebalance_timeout)
                .max()
                .unwrap_or_default()
        };
        if !initial && group.all_joined() {
            complete_join(group_id, group);
            return;
        }
        let epoch = group.rebalance_epoch;
        let weak = Arc::downgrade(self);
        let group_id = group_id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(c) = weak.upgrade() else { return };
            let mut groups = c.groups.lock();
            if let Some(g) = groups.get_mut(&group_id)
                && g.rebalance_epoch == epoch
                && g.state == State::PreparingRebalance
            {
                complete_join(&group_id, g);
            }
        });
    }

    /// SyncGroup: returns (error code, this member's assignment).
    pub async fn sync(
        self: &Arc<Self>,
        group_id: &str,
        generation: i32,
        member_id: &str,
        assignments: Vec<(String, Bytes)>,
    ) -> (i16, Bytes) {
        let rx = {
            let mut groups = self.groups.lock();
            let Some(group) = groups.get_mut(group_id) else {
                return (E::UnknownMemberId.code(), Bytes::new());
            };
            let Some(member) = group.members.get_mut(member_id) else {
                return (E::UnknownMemberId.code(), Bytes::new());
            };
            member.last_heartbeat = Instant::now();
            if generation != group.generation {
                return (E::IllegalGeneration.code(), Bytes::new());
            }
            match group.state {
                State::Empty => return (E::UnknownMemberId.code(), Bytes::new()),
                State::PreparingRebalance => return (E::RebalanceInProgress.code(), Bytes::new()),
                State::Stable => return (0, member.assignment.clone()),
                State::CompletingRebalance => {}
            }
            let (tx, rx) = oneshot::channel();
            member.sync_waiter = Some(tx);
            if group.leader.as_deref() == Some(member_id) {
                let mut by_member: HashMap<String, Bytes> = assignments.into_iter().collect();
                for (id, m) in group.members.iter_mut() {
                    m.assignment = by_member.remove(id).unwrap_or_default();
                    if let Some(w) = m.sync_waiter.take() {
                        let _ = w.send((0, m.assignment.clone()));
                    }
                }
                group.state = State::Stable;
                tracing::info!(
                    group = group_id,
                    generation,
                    members = group.members.len(),
                    "group stable"
                );
            }
            rx
        };
        rx.await
            .unwrap_or((E::RebalanceInProgress.code(), Bytes::new()))
    }

    /// Heartbeat: returns the error code.
    pub fn heartbeat(&self, group_id: &str, generation: i32, member_id: &str) -> i16 {
        let mut groups = self.groups.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return E::UnknownMemberId.code();
        };
        let state = group.state;
        let current = group.generation;
        let Some(member) = group.members.get_mut(member_id) else {
            return E::UnknownMemberId.code();
        };
        member.last_heartbeat = Instant::now();
        if generation != current {
            return E::IllegalGeneration.code();
        }
        match state {
            State::PreparingRebalance => E::RebalanceInProgress.code(),
            State::Empty => E::UnknownMemberId.code(),
            _ => 0,
        }
    }

    /// LeaveGroup for each (member id, instance id); returns a code per member.
    pub fn leave(
        self: &Arc<Self>,
        group_id: &str,
        members: Vec<(String, Option<String>)>,
    ) -> (i16, Vec<i16>) {
        let mut groups = self.groups.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return (
                E::UnknownMemberId.code(),
                vec![E::UnknownMemberId.code(); members.len()],
            );
        };
        let mut codes = Vec::new();
        let mut removed = false;
        for (member_id, instance) in members {
            let id = if member_id.is_empty() {
                instance.as_ref().and_then(|i| {
                    group
                        .members
                        .iter()
                        .find(|(_, m)| m.instance_id.as_ref() == Some(i))
                        .map(|(id, _)| id.clone())
                })
            } else {
                Some(member_id)
            };
            match id.and_then(|id| group.members.shift_remove(&id).map(|m| (id, m))) {
                Some((id, m)) => {
                    tracing::info!(group = group_id, member = %id, "member left");
                    drop(m);
                    removed = true;
                    codes.push(0);
                }
                None => codes.push(E::UnknownMemberId.code()),
            }
        }
        if removed {
            self.members_changed(group_id, group);
        }
        (0, codes)
    }

    fn members_changed(self: &Arc<Self>, group_id: &str, group: &mut Group) {
        if group.members.is_empty() {
            group.state = State::Empty;
            group.generation += 1;
            group.leader = None;
            group.protocol = None;
            group.rebalance_epoch += 1;
            return;
        }
        match group.state {
            State::PreparingRebalance => {
                if group.all_joined() && group.generation > 0 {
                    complete_join(group_id, group);
                }
            }
            _ => self.prepare_rebalance(group_id, group),
        }
    }

    fn expire_sessions(self: &Arc<Self>) {
        let mut groups = self.groups.lock();
        let now = Instant::now();
        let ids: Vec<String> = groups.keys().cloned().collect();
        for group_id in ids {
            let group = groups.get_mut(&group_id).expect("listed");
            let expired: Vec<String> = group
                .members
                .iter()
                .filter(|(_, m)| {
                    m.join_waiter.is_none()
                        && now.duration_since(m.last_heartbeat) > m.session_timeout
                })
                .map(|(id, _)| id.clone())
                .collect();
            if expired.is_empty() {
                continue;
            }
            for id in &expired {
                tracing::info!(group = %group_id, member = %id, "session timed out; removing member");
                group.members.shift_remove(id);
            }
            self.members_changed(&group_id, group);
        }
    }

    /// Validates an OffsetCommit's member and generation. `generation < 0` is a commit from
    /// outside the group protocol, allowed while the group has no members.
    pub fn check_commit(&self, group_id: &str, generation: i32, member_id: &str) -> i16 {
        let mut groups = self.groups.lock();
        let group = groups
            .entry(group_id.to_string())
            .or_insert_with(Group::new);
        if generation < 0 && member_id.is_empty() {
            return if group.members.is_empty() {
                0
            } else {
                E::UnknownMemberId.code()
            };
        }
        let Some(member) = group.members.get_mut(member_id) else {
            return E::UnknownMemberId.code();
        };
        member.last_heartbeat = Instant::now();
        if generation != group.generation {
            return E::IllegalGeneration.code();
        }
        // As Kafka: members commit while a rebalance is being prepared (that is when they
        // give partitions up), but not between JoinGroup and SyncGroup.
        if group.state == State::CompletingRebalance {
            return E::RebalanceInProgress.code();
        }
        0
    }

    /// Commits offsets durably.
    pub fn commit(&self, group_id: &str, commits: Vec<(String, i32, Committed)>) -> Result<()> {
        self.offsets.commit(group_id, commits)
    }

    /// Every known group: active ones and those that only have committed offsets.
    pub fn list(&self) -> Vec<GroupSummary> {
        let mut names: HashSet<String> = self.offsets.groups().into_iter().collect();
        names.extend(self.groups.lock().keys().cloned());
        let mut v: Vec<_> = names.into_iter().map(|g| self.describe(&g)).collect();
        v.sort_by(|a, b| a.group.cmp(&b.group));
        v
    }

    /// Describes one group ("Dead" when unknown, as Kafka answers).
    pub fn describe(&self, group_id: &str) -> GroupSummary {
        let groups = self.groups.lock();
        let Some(group) = groups.get(group_id) else {
            let state = if self.offsets.group(group_id).is_empty() {
                "Dead"
            } else {
                "Empty"
            };
            return GroupSummary {
                group: group_id.into(),
                state,
                protocol_type: if state == "Empty" {
                    "consumer".into()
                } else {
                    String::new()
                },
                protocol: String::new(),
                members: Vec::new(),
            };
        };
        let protocol = group.protocol.clone().unwrap_or_default();
        GroupSummary {
            group: group_id.into(),
            state: group.state.name(),
            protocol_type: group
                .protocol_type
                .clone()
                .unwrap_or_else(|| "consumer".into()),
            protocol: protocol.clone(),
            members: group
                .members
                .iter()
                .map(|(id, m)| MemberSummary {
                    member_id: id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: m
                        .protocols
                        .iter()
                        .find(|(n, _)| *n == protocol)
                        .map(|(_, b)| b.clone())
                        .unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// DeleteGroups for one group: only an empty group can go.
    pub fn delete(&self, group_id: &str) -> Result<i16> {
        let mut groups = self.groups.lock();
        if let Some(g) = groups.get(group_id)
            && !g.members.is_empty()
        {
            return Ok(E::NonEmptyGroup.code());
        }
        let had_group = groups.remove(group_id).is_some();
        let had_offsets = self.offsets.delete_group(group_id)?;
        Ok(if had_group || had_offsets {
            0
        } else {
            E::GroupIdNotFound.code()
        })
    }
}

/// Ends the join phase: members that did not rejoin are dropped, a new generation starts, and
/// every waiting JoinGroup is answered (the leader with everybody's metadata).
fn complete_join(group_id: &str, group: &mut Group) {
    let gone: Vec<String> = group
        .members
        .iter()
        .filter(|(_, m)| m.join_waiter.is_none())
        .map(|(id, _)| id.clone())
        .collect();
    for id in gone {
        tracing::info!(group = group_id, member = %id, "member did not rejoin in time; removing");
        group.members.shift_remove(&id);
    }
    group.pending.clear();
    group.generation += 1;
    if group.members.is_empty() {
        group.state = State::Empty;
        group.leader = None;
        group.protocol = None;
        return;
    }
    group.protocol = group.select_protocol();
    if !group
        .leader
        .as_ref()
        .is_some_and(|l| group.members.contains_key(l))
    {
        group.leader = group.members.keys().next().cloned();
    }
    group.state = State::CompletingRebalance;
    let leader = group.leader.clone().unwrap_or_default();
    let protocol = group.protocol.clone();
    let all: Vec<(String, Option<String>, Bytes)> = group
        .members
        .iter()
        .map(|(id, m)| {
            (
                id.clone(),
                m.instance_id.clone(),
                m.protocols
                    .iter()
                    .find(|(n, _)| Some(n) == protocol.as_ref())
                    .map(|(_, b)| b.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    tracing::info!(group = group_id, generation = group.generation, members = all.len(), leader = %leader, protocol = ?protocol, "rebalance: join complete");
    let now = Instant::now();
    for (id, m) in group.members.iter_mut() {
        m.last_heartbeat = now;
        if let Some(w) = m.join_waiter.take() {
            let _ = w.send(JoinResult {
                error: 0,
                generation: group.generation,
                protocol: protocol.clone(),
                protocol_type: group.protocol_type.clone(),
                leader: leader.clone(),
                member_id: id.clone(),
                members: if *id == leader {
                    all.clone()
                } else {
                    Vec::new()
                },
            });
        }
    }
}

#[cfg(test)]
#[path = "coordinator_tests.rs"]
mod tests;
