//! Admin APIs: CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs,
//! IncrementalAlterConfigs.

use std::collections::BTreeMap;
use std::sync::Arc;

use connectd_log::LogConfig;
use kafka_protocol::ResponseError as E;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, CreatePartitionsRequest, CreatePartitionsResponse,
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    DescribeConfigsRequest, DescribeConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, TopicName, alter_configs_response,
    incremental_alter_configs_response,
};

use super::{Client, RESERVED, str};
use crate::auth::acls::Operation;
use crate::engine::Broker;
use crate::{Error, Result};

/// Kafka's ConfigResource types.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// Kafka's ConfigSource values.
const SOURCE_DYNAMIC_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

/// Runs blocking topic-admin work off the async threads, flattening the join error.
/// Refuses a reserved topic to a client that may not use it ([`crate::reserved`]).
fn permit(broker: &Broker, client: &Client, operation: Operation, topic: &str) -> Result<()> {
    // Kafka lets CREATE on the cluster create any topic.
    let by_cluster =
        operation == Operation::Create && !client.refuses_cluster(broker, Operation::Create);
    let reserved = broker
        .reserved
        .get()
        .is_some_and(|r| r.refuses_topic(client, topic));
    if reserved || (!by_cluster && client.refuses_topic(broker, operation, topic)) {
        return Err(Error::kafka(
            E::TopicAuthorizationFailed,
            format!("topic {topic} is {RESERVED}"),
        ));
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(Error::kafka(E::UnknownServerError, e.to_string())))
}

pub(super) async fn create_topics(
    broker: Arc<Broker>,
    req: CreateTopicsRequest,
    client: Client,
) -> CreateTopicsResponse {
    let mut results = Vec::new();
    for t in req.topics {
        let name = t.name.to_string();
        let mut result = CreatableTopicResult::default()
            .with_name(t.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        let node = broker.config.node_id;
        let assigned = (!t.assignments.is_empty()).then(|| {
            manual_assignment(
                node,
                t.assignments.iter().map(|a| {
                    let brokers: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
                    (a.partition_index, brokers)
                }),
            )
        });
        let partitions = match &assigned {
            Some(Ok(n)) => *n,
            _ if t.num_partitions == -1 => broker.config.num_partitions,
            _ => t.num_partitions,
        };
        let configs: BTreeMap<String, String> = t
            .configs
            .iter()
            .filter_map(|c| {
                c.value
                    .as_ref()
                    .map(|v| (c.name.to_string(), v.to_string()))
            })
            .collect();
        let outcome = if let Err(e) = permit(&broker, &client, Operation::Create, &name) {
            Err(e)
        } else if t.replication_factor != -1 && t.replication_factor != 1 {
            Err(Error::kafka(
                E::InvalidReplicationFactor,
                format!(
                    "replication factor {} is larger than the 1 available broker",
                    t.replication_factor
                ),
            ))
        } else if assigned.is_some() && (t.num_partitions != -1 || t.replication_factor != -1) {
            Err(Error::kafka(
                E::InvalidRequest,
                "a replica assignment comes with num_partitions and replication_factor -1",
            ))
        } else if let Some(Err(e)) = assigned {
            Err(e)
        } else {
            let b = broker.clone();
            let validate_only = req.validate_only;
            blocking(move || b.topics.create(&name, partitions, configs, validate_only)).await
        };
        match outcome {
            Ok(topic) => {
                result.topic_id = topic.id;
                result.num_partitions = partitions;
                result.replication_factor = 1;
                let described = describe_topic(&broker, &topic.config_overrides(), None);
                result.configs = Some(
                    described
                        .into_iter()
                        .map(|c| {
                            CreatableTopicConfigs::default()
                                .with_name(c.name)
                                .with_value(c.value)
                                .with_config_source(c.config_source)
                                .with_read_only(false)
                        })
                        .collect(),
                );
            }
            Err(e) => {
                result.error_code = e.code();
                result.error_message = Some(str(e.to_string()));
            }
        }
        results.push(result);
    }
    CreateTopicsResponse::default().with_topics(results)
}

pub(super) async fn delete_topics(
    broker: Arc<Broker>,
    req: DeleteTopicsRequest,
    version: i16,
    client: Client,
) -> DeleteTopicsResponse {
    let targets: Vec<(Option<String>, uuid::Uuid)> = if version >= 6 {
        req.topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.to_string()), t.topic_id))
            .collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| (Some(n.to_string()), uuid::Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::new();
    for (name, id) in targets {
        // A topic named by its id keeps its name from a caller who may not describe it: the
        // answer is UNKNOWN_TOPIC_ID, as Kafka's.
        let name = name.or_else(|| {
            broker
                .topics
                .get_by_id(id)
                .map(|t| t.name.clone())
                .filter(|n| !client.refuses_topic(&broker, Operation::Describe, n))
        });
        let mut r = DeletableTopicResult::default()
            .with_name(name.clone().map(|n| TopicName(str(n))))
            .with_topic_id(id);
        let outcome = match name {
            None => Err(Error::kafka(
                E::UnknownTopicId,
                format!("unknown topic id {id}"),
            )),
            Some(n) => match permit(&broker, &client, Operation::Delete, &n) {
                Err(e) => Err(e),
                Ok(()) => {
                    let b = broker.clone();
                    blocking(move || b.topics.delete(&n)).await
                }
            },
        };
        match outcome {
            Ok(id) => r.topic_id = id,
            Err(e) => {
                r.error_code = e.code();
                r.error_message = Some(str(e.to_string()));
            }
        }
        responses.push(r);
    }
    DeleteTopicsResponse::default().with_responses(responses)
}

/// A manual replica assignment (partition index, replica broker ids), as a one-broker Kafka
/// takes it: partitions 0..n in order, each on exactly this broker. Returns n.
fn manual_assignment(node: i32, assignments: impl Iterator<Item = (i32, Vec<i32>)>) -> Result<i32> {
    let mut n = 0;
    for (index, brokers) in assignments {
        if index != n {
            return Err(Error::kafka(
                E::InvalidReplicaAssignment,
                format!(
                    "partitions must be assigned in order from 0; got {index} where {n} was expected"
                ),
            ));
        }
        if brokers != [node] {
            return Err(Error::kafka(
                E::InvalidReplicaAssignment,
                format!(
                    "partition {index} is assigned to brokers {brokers:?}; this cluster has one broker, {node}"
                ),
            ));
        }
        n += 1;
    }
    Ok(n)
}

pub(super) async fn create_partitions(
    broker: Arc<Broker>,
    req: CreatePartitionsRequest,
    client: Client,
) -> CreatePartitionsResponse {
    let mut results = Vec::new();
    for t in req.topics {
        let name = t.name.to_string();
        let b = broker.clone();
        let validate_only = req.validate_only;
        let count = t.count;
        let mut r = CreatePartitionsTopicResult::default().with_name(t.name);
        let node = broker.config.node_id;
        let misplaced = t.assignments.iter().flatten().find_map(|a| {
            let brokers: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
            (brokers != [node]).then(|| {
                Error::kafka(
                    E::InvalidReplicaAssignment,
                    format!("new partitions assigned to brokers {brokers:?}; this cluster has one broker, {node}"),
                )
            })
        });
        let outcome = match misplaced
            .map(Err)
            .unwrap_or_else(|| permit(&broker, &client, Operation::Alter, &name))
        {
            Err(e) => Err(e),
            Ok(()) => {
                blocking(move || b.topics.create_partitions(&name, count, validate_only)).await
            }
        };
        if let Err(e) = outcome {
            r.error_code = e.code();
            r.error_message = Some(str(e.to_string()));
        }
        results.push(r);
    }
    CreatePartitionsResponse::default().with_results(results)
}

/// Every topic config with its effective value and where it comes from.
fn describe_topic(
    broker: &Broker,
    overrides: &BTreeMap<String, String>,
    keys: Option<&[String]>,
) -> Vec<DescribeConfigsResourceResult> {
    let defaults = broker.topics.defaults();
    LogConfig::known_keys()
        .filter(|(name, _, _)| keys.is_none_or(|k| k.iter().any(|x| x == name)))
        .map(|(name, builtin, doc)| {
            let (value, source) = match (overrides.get(name), defaults.get(name)) {
                (Some(v), _) => (v.clone(), SOURCE_DYNAMIC_TOPIC),
                (None, Some(v)) => (v.clone(), SOURCE_STATIC_BROKER),
                (None, None) => (builtin.to_string(), SOURCE_DEFAULT),
            };
            DescribeConfigsResourceResult::default()
                .with_name(str(name))
                .with_value(Some(str(value)))
                .with_config_source(source)
                .with_documentation(Some(str(doc)))
        })
        .collect()
}

fn describe_broker(broker: &Broker, keys: Option<&[String]>) -> Vec<DescribeConfigsResourceResult> {
    let c = &broker.config;
    let entries = [
        ("node.id", c.node_id.to_string()),
        ("listeners", broker.listener_list(|b| b.addr.to_string())),
        (
            "advertised.listeners",
            broker.listener_list(|b| format!("{}:{}", b.advertised.0, b.advertised.1)),
        ),
        (
            "auto.create.topics.enable",
            c.auto_create_topics_enable.to_string(),
        ),
        ("num.partitions", c.num_partitions.to_string()),
        (
            "socket.request.max.bytes",
            c.socket_request_max_bytes.to_string(),
        ),
        ("max.connections", c.max_connections.to_string()),
        (
            "connections.max.idle.ms",
            c.connections_max_idle_ms.to_string(),
        ),
        (
            "queued.max.request.bytes",
            c.queued_max_request_bytes.to_string(),
        ),
        (
            "group.initial.rebalance.delay.ms",
            c.group_initial_rebalance_delay_ms.to_string(),
        ),
        (
            "log.cleaner.backoff.ms",
            c.log_cleaner_backoff_ms.to_string(),
        ),
        (
            "log.retention.check.interval.ms",
            c.log_retention_check_interval_ms.to_string(),
        ),
    ];
    entries
        .into_iter()
        .filter(|(name, _)| keys.is_none_or(|k| k.iter().any(|x| x == name)))
        .map(|(name, value)| {
            DescribeConfigsResourceResult::default()
                .with_name(str(name))
                .with_value(Some(str(value)))
                .with_config_source(SOURCE_STATIC_BROKER)
                .with_read_only(true)
        })
        .collect()
}

pub(super) async fn describe_configs(
    broker: Arc<Broker>,
    req: DescribeConfigsRequest,
    client: Client,
) -> DescribeConfigsResponse {
    let mut results = Vec::new();
    for res in req.resources {
        let keys: Option<Vec<String>> = res
            .configuration_keys
            .as_ref()
            .map(|k| k.iter().map(|s| s.to_string()).collect());
        let mut r = DescribeConfigsResult::default()
            .with_resource_type(res.resource_type)
            .with_resource_name(res.resource_name.clone());
        match res.resource_type {
            RESOURCE_TOPIC => match permit(
                &broker,
                &client,
                Operation::DescribeConfigs,
                res.resource_name.as_str(),
            )
            .map(|()| broker.topics.get(res.resource_name.as_str()))
            {
                Err(e) => {
                    r.error_code = e.code();
                    r.error_message = Some(str(e.to_string()));
                }
                Ok(Some(t)) => {
                    r.configs = describe_topic(&broker, &t.config_overrides(), keys.as_deref())
                }
                Ok(None) => {
                    r.error_code = E::UnknownTopicOrPartition.code();
                    r.error_message = Some(str(format!(
                        "unknown topic {:?}",
                        res.resource_name.as_str()
                    )));
                }
            },
            RESOURCE_BROKER if client.refuses_cluster(&broker, Operation::DescribeConfigs) => {
                r.error_code = E::ClusterAuthorizationFailed.code();
                r.error_message = Some(str(RESERVED));
            }
            RESOURCE_BROKER => r.configs = describe_broker(&broker, keys.as_deref()),
            other => {
                r.error_code = E::InvalidRequest.code();
                r.error_message = Some(str(format!(
                    "config resource type {other} is not supported; use 2 (topic) or 4 (broker)"
                )));
            }
        }
        results.push(r);
    }
    DescribeConfigsResponse::default().with_results(results)
}

/// Applies new overrides for one topic resource.
async fn alter_topic(
    broker: &Arc<Broker>,
    client: &Client,
    resource_type: i8,
    name: &str,
    edit: impl FnOnce(&mut BTreeMap<String, String>) -> Result<()>,
    validate_only: bool,
) -> Result<()> {
    if resource_type == RESOURCE_BROKER {
        return Err(Error::kafka(
            E::InvalidRequest,
            "broker configs are read-only at run time; change worker.toml [broker] and restart",
        ));
    }
    if resource_type != RESOURCE_TOPIC {
        return Err(Error::kafka(
            E::InvalidRequest,
            format!("config resource type {resource_type} is not supported"),
        ));
    }
    permit(broker, client, Operation::AlterConfigs, name)?;
    let topic = broker
        .topics
        .get(name)
        .ok_or_else(|| crate::topics::unknown_topic(name))?;
    let mut configs = topic.config_overrides();
    edit(&mut configs)?;
    let b = broker.clone();
    let name = name.to_string();
    blocking(move || b.topics.set_configs(&name, configs, validate_only)).await
}

pub(super) async fn alter_configs(
    broker: Arc<Broker>,
    req: AlterConfigsRequest,
    client: Client,
) -> AlterConfigsResponse {
    let mut responses = Vec::new();
    for res in req.resources {
        let new: BTreeMap<String, String> = res
            .configs
            .iter()
            .filter_map(|c| {
                c.value
                    .as_ref()
                    .map(|v| (c.name.to_string(), v.to_string()))
            })
            .collect();
        // AlterConfigs replaces the whole override set.
        let outcome = alter_topic(
            &broker,
            &client,
            res.resource_type,
            res.resource_name.as_str(),
            |c| {
                *c = new;
                Ok(())
            },
            req.validate_only,
        )
        .await;
        let mut r = alter_configs_response::AlterConfigsResourceResponse::default()
            .with_resource_type(res.resource_type)
            .with_resource_name(res.resource_name);
        if let Err(e) = outcome {
            r.error_code = e.code();
            r.error_message = Some(str(e.to_string()));
        }
        responses.push(r);
    }
    AlterConfigsResponse::default().with_responses(responses)
}

pub(super) async fn incremental_alter_configs(
    broker: Arc<Broker>,
    req: IncrementalAlterConfigsRequest,
    client: Client,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::new();
    for res in req.resources {
        let ops: Vec<(String, i8, Option<String>)> = res
            .configs
            .iter()
            .map(|c| {
                (
                    c.name.to_string(),
                    c.config_operation,
                    c.value.as_ref().map(|v| v.to_string()),
                )
            })
            .collect();
        let outcome = alter_topic(&broker, &client, res.resource_type, res.resource_name.as_str(), |configs| {
            for (name, op, value) in ops {
                match (op, value) {
                    (0, Some(v)) => {
                        configs.insert(name, v);
                    }
                    (1, _) => {
                        configs.remove(&name);
                    }
                    (2 | 3, Some(v)) if name == "cleanup.policy" => {
                        let mut items: Vec<String> = configs.get(&name).map(|s| s.split(',').map(|x| x.trim().to_string()).collect()).unwrap_or_else(|| vec!["delete".into()]);
                        items.retain(|x| *x != v);
                        if op == 2 {
                            items.push(v);
                        }
                        configs.insert(name, items.join(","));
                    }
                    (op, _) => return Err(Error::kafka(E::InvalidConfig, format!("config {name}: operation {op} needs a value and, for APPEND/SUBTRACT, a list-typed key"))),
                }
            }
            Ok(())
        }, req.validate_only)
        .await;
        let mut r = incremental_alter_configs_response::AlterConfigsResourceResponse::default()
            .with_resource_type(res.resource_type)
            .with_resource_name(res.resource_name);
        if let Err(e) = outcome {
            r.error_code = e.code();
            r.error_message = Some(str(e.to_string()));
        }
        responses.push(r);
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
