//! Group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
//! OffsetFetch, ListGroups, DescribeGroups, DeleteGroups. The state machine lives in
//! [`crate::groups`]; these functions translate messages.

use std::sync::Arc;

use kafka_protocol::ResponseError as E;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator as CoordinatorEntry;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    BrokerId, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse, GroupId,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
    SyncGroupResponse, TopicName,
};

use super::Client;
use super::str;
use crate::auth::acls::Operation;
use crate::engine::Broker;
use crate::groups::{Committed, JoinArgs};

/// FindCoordinator key type for transactions, which this broker does not coordinate.
const KEY_TYPE_TRANSACTION: i8 = 1;

pub(super) async fn find_coordinator(
    broker: Arc<Broker>,
    req: FindCoordinatorRequest,
    version: i16,
    client: Client,
) -> FindCoordinatorResponse {
    let (host, port) = broker.advertised(client.listener);
    let node = BrokerId(broker.config.node_id);
    let error = |key: &str| {
        if req.key_type == KEY_TYPE_TRANSACTION {
            E::CoordinatorNotAvailable.code()
        } else if !broker.security.acls.authorize(
            &client.principal,
            &client.host,
            Operation::Describe,
            crate::auth::acls::ResourceType::Group,
            key,
        ) {
            // ACLs only: a reserved group's coordinator is found, and its JoinGroup or
            // OffsetCommit is refused, which clients report as GROUP_AUTHORIZATION_FAILED.
            E::GroupAuthorizationFailed.code()
        } else {
            0
        }
    };
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| {
                CoordinatorEntry::default()
                    .with_key(k.clone())
                    .with_node_id(node)
                    .with_host(str(host.clone()))
                    .with_port(port)
                    .with_error_code(error(k.as_str()))
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    FindCoordinatorResponse::default()
        .with_error_code(error(req.key.as_str()))
        .with_node_id(node)
        .with_host(str(host))
        .with_port(port)
}

pub(super) async fn join_group(
    broker: Arc<Broker>,
    req: JoinGroupRequest,
    version: i16,
    client: Client,
) -> JoinGroupResponse {
    if client.refuses_group(&broker, Operation::Read, req.group_id.as_str()) {
        return JoinGroupResponse::default()
            .with_error_code(E::GroupAuthorizationFailed.code())
            .with_generation_id(-1);
    }
    let args = JoinArgs {
        group: req.group_id.to_string(),
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        client_id: client.id,
        client_host: format!("/{}", client.host),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if version == 0 {
            req.session_timeout_ms
        } else {
            req.rebalance_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect(),
        require_known_member_id: version >= 4,
    };
    let r = broker.groups.join(args).await;
    JoinGroupResponse::default()
        .with_error_code(r.error)
        .with_generation_id(if r.error == 0 { r.generation } else { -1 })
        .with_protocol_type(r.protocol_type.map(str))
        .with_protocol_name(r.protocol.map(str))
        .with_leader(str(r.leader))
        .with_member_id(str(r.member_id))
        .with_members(
            r.members
                .into_iter()
                .map(|(id, instance, metadata)| {
                    JoinGroupResponseMember::default()
                        .with_member_id(str(id))
                        .with_group_instance_id(instance.map(str))
                        .with_metadata(metadata)
                })
                .collect(),
        )
}

pub(super) async fn sync_group(
    broker: Arc<Broker>,
    req: SyncGroupRequest,
    client: Client,
) -> SyncGroupResponse {
    if client.refuses_group(&broker, Operation::Read, req.group_id.as_str()) {
        return SyncGroupResponse::default().with_error_code(E::GroupAuthorizationFailed.code());
    }
    let assignments = req
        .assignments
        .iter()
        .map(|a| (a.member_id.to_string(), a.assignment.clone()))
        .collect();
    let (error, assignment) = broker
        .groups
        .sync(
            req.group_id.as_str(),
            req.generation_id,
            req.member_id.as_str(),
            assignments,
        )
        .await;
    SyncGroupResponse::default()
        .with_error_code(error)
        .with_assignment(assignment)
        .with_protocol_type(req.protocol_type)
        .with_protocol_name(req.protocol_name)
}

pub(super) async fn heartbeat(
    broker: Arc<Broker>,
    req: HeartbeatRequest,
    client: Client,
) -> HeartbeatResponse {
    if client.refuses_group(&broker, Operation::Read, req.group_id.as_str()) {
        return HeartbeatResponse::default().with_error_code(E::GroupAuthorizationFailed.code());
    }
    HeartbeatResponse::default().with_error_code(broker.groups.heartbeat(
        req.group_id.as_str(),
        req.generation_id,
        req.member_id.as_str(),
    ))
}

pub(super) async fn leave_group(
    broker: Arc<Broker>,
    req: LeaveGroupRequest,
    version: i16,
    client: Client,
) -> LeaveGroupResponse {
    if client.refuses_group(&broker, Operation::Read, req.group_id.as_str()) {
        return LeaveGroupResponse::default().with_error_code(E::GroupAuthorizationFailed.code());
    }
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|s| s.to_string()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    let (error, codes) = broker.groups.leave(req.group_id.as_str(), members.clone());
    if version < 3 {
        return LeaveGroupResponse::default()
            .with_error_code(codes.first().copied().unwrap_or(error));
    }
    let members = members
        .into_iter()
        .zip(codes)
        .map(|((id, instance), code)| {
            MemberResponse::default()
                .with_member_id(str(id))
                .with_group_instance_id(instance.map(str))
                .with_error_code(code)
        })
        .collect();
    LeaveGroupResponse::default()
        .with_error_code(error)
        .with_members(members)
}

pub(super) async fn offset_commit(
    broker: Arc<Broker>,
    req: OffsetCommitRequest,
    client: Client,
) -> OffsetCommitResponse {
    let group = req.group_id.to_string();
    let check = if client.refuses_group(&broker, Operation::Read, &group) {
        E::GroupAuthorizationFailed.code()
    } else {
        broker.groups.check_commit(
            &group,
            req.generation_id_or_member_epoch,
            req.member_id.as_str(),
        )
    };
    let mut commits = Vec::new();
    let mut topics = Vec::new();
    for t in &req.topics {
        let topic = broker.topics.get(t.name.as_str());
        let mut partitions = Vec::new();
        for p in &t.partitions {
            let code = if check != 0 {
                check
            } else if client.refuses_topic(&broker, Operation::Read, t.name.as_str()) {
                E::TopicAuthorizationFailed.code()
            } else if topic
                .as_ref()
                .and_then(|tp| tp.partition(p.partition_index))
                .is_none()
            {
                E::UnknownTopicOrPartition.code()
            } else {
                commits.push((
                    t.name.to_string(),
                    p.partition_index,
                    Committed {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                    },
                ));
                0
            };
            partitions.push(
                OffsetCommitResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(code),
            );
        }
        topics.push(
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions),
        );
    }
    if !commits.is_empty() {
        let b = broker.clone();
        let g = group.clone();
        let stored = tokio::task::spawn_blocking(move || b.groups.commit(&g, commits)).await;
        if !matches!(stored, Ok(Ok(()))) {
            tracing::error!(group = %group, "persisting committed offsets failed");
            for t in &mut topics {
                for p in &mut t.partitions {
                    if p.error_code == 0 {
                        p.error_code = E::KafkaStorageError.code();
                    }
                }
            }
        }
    }
    OffsetCommitResponse::default().with_topics(topics)
}

/// Per topic, each requested partition with its committed offset, if any, and the error
/// code of every partition of the topic (TOPIC_AUTHORIZATION_FAILED, or 0).
type TopicOffsets = Vec<(TopicName, Vec<(i32, Option<Committed>)>, i16)>;

/// Committed offsets of `group` for the requested (topic, partitions), or all of them. As
/// in Kafka, a topic the client may not describe is left out of "all", and answered
/// TOPIC_AUTHORIZATION_FAILED (no offset) when named.
fn fetch_offsets(
    broker: &Broker,
    client: &Client,
    group: &str,
    topics: Option<Vec<(TopicName, Vec<i32>)>>,
) -> TopicOffsets {
    let refused = |topic: &str| client.refuses_topic(broker, Operation::Describe, topic);
    match topics {
        Some(list) => list
            .into_iter()
            .map(|(name, parts)| {
                if refused(name.as_str()) {
                    let parts = parts.into_iter().map(|p| (p, None)).collect();
                    return (name, parts, E::TopicAuthorizationFailed.code());
                }
                let offsets = parts
                    .into_iter()
                    .map(|p| (p, broker.groups.offsets().get(group, name.as_str(), p)))
                    .collect();
                (name, offsets, 0)
            })
            .collect(),
        None => {
            let mut by_topic: std::collections::BTreeMap<String, Vec<(i32, Option<Committed>)>> =
                Default::default();
            for (t, p, c) in broker.groups.offsets().group(group) {
                by_topic.entry(t).or_default().push((p, Some(c)));
            }
            by_topic
                .into_iter()
                .filter(|(t, _)| !refused(t))
                .map(|(t, v)| (TopicName(str(t)), v, 0))
                .collect()
        }
    }
}

pub(super) async fn offset_fetch(
    broker: Arc<Broker>,
    req: OffsetFetchRequest,
    version: i16,
    client: Client,
) -> OffsetFetchResponse {
    if version >= 8 {
        let groups = req
            .groups
            .iter()
            .map(|g| {
                if client.refuses_group(&broker, Operation::Describe, g.group_id.as_str()) {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_error_code(E::GroupAuthorizationFailed.code());
                }
                let wanted = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                        .collect()
                });
                let topics = fetch_offsets(&broker, &client, g.group_id.as_str(), wanted)
                    .into_iter()
                    .map(|(name, parts, code)| {
                        OffsetFetchResponseTopics::default()
                            .with_name(name)
                            .with_partitions(
                                parts
                                    .into_iter()
                                    .map(|(p, c)| {
                                        let c = c.unwrap_or(Committed {
                                            offset: -1,
                                            leader_epoch: -1,
                                            metadata: Some(String::new()),
                                        });
                                        OffsetFetchResponsePartitions::default()
                                            .with_error_code(code)
                                            .with_partition_index(p)
                                            .with_committed_offset(c.offset)
                                            .with_committed_leader_epoch(c.leader_epoch)
                                            .with_metadata(c.metadata.map(str))
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    if client.refuses_group(&broker, Operation::Describe, req.group_id.as_str()) {
        return OffsetFetchResponse::default().with_error_code(E::GroupAuthorizationFailed.code());
    }
    let wanted = req.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.clone(), t.partition_indexes.clone()))
            .collect()
    });
    let topics = fetch_offsets(&broker, &client, req.group_id.as_str(), wanted)
        .into_iter()
        .map(|(name, parts, code)| {
            OffsetFetchResponseTopic::default()
                .with_name(name)
                .with_partitions(
                    parts
                        .into_iter()
                        .map(|(p, c)| {
                            let c = c.unwrap_or(Committed {
                                offset: -1,
                                leader_epoch: -1,
                                metadata: Some(String::new()),
                            });
                            OffsetFetchResponsePartition::default()
                                .with_error_code(code)
                                .with_partition_index(p)
                                .with_committed_offset(c.offset)
                                .with_committed_leader_epoch(c.leader_epoch)
                                .with_metadata(c.metadata.map(str))
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

pub(super) async fn list_groups(
    broker: Arc<Broker>,
    req: ListGroupsRequest,
    client: Client,
) -> ListGroupsResponse {
    let filter: Vec<String> = req
        .states_filter
        .iter()
        .map(|s| s.to_string().to_lowercase())
        .collect();
    let groups = broker
        .groups
        .list()
        .into_iter()
        .filter(|g| filter.is_empty() || filter.contains(&g.state.to_lowercase()))
        .filter(|g| !client.refuses_group(&broker, Operation::Describe, &g.group))
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(str(g.group)))
                .with_protocol_type(str(g.protocol_type))
                .with_group_state(str(g.state))
                .with_group_type(str("classic"))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

pub(super) async fn describe_groups(
    broker: Arc<Broker>,
    req: DescribeGroupsRequest,
    client: Client,
) -> DescribeGroupsResponse {
    let groups = req
        .groups
        .iter()
        .map(|g| {
            if client.refuses_group(&broker, Operation::Describe, g.as_str()) {
                return DescribedGroup::default()
                    .with_group_id(g.clone())
                    .with_error_code(E::GroupAuthorizationFailed.code());
            }
            let s = broker.groups.describe(g.as_str());
            let members = s
                .members
                .into_iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(str(m.member_id))
                        .with_group_instance_id(m.instance_id.map(str))
                        .with_client_id(str(m.client_id))
                        .with_client_host(str(m.client_host))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment)
                })
                .collect();
            DescribedGroup::default()
                .with_group_id(g.clone())
                .with_group_state(str(s.state))
                .with_protocol_type(str(s.protocol_type))
                .with_protocol_data(str(s.protocol))
                .with_members(members)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

pub(super) async fn delete_groups(
    broker: Arc<Broker>,
    req: DeleteGroupsRequest,
    client: Client,
) -> DeleteGroupsResponse {
    let mut results = Vec::new();
    for g in req.groups_names {
        let b = broker.clone();
        let id = g.to_string();
        let code = if client.refuses_group(&broker, Operation::Delete, &id) {
            E::GroupAuthorizationFailed.code()
        } else {
            match tokio::task::spawn_blocking(move || b.groups.delete(&id)).await {
                Ok(Ok(code)) => code,
                _ => E::KafkaStorageError.code(),
            }
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(g)
                .with_error_code(code),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
