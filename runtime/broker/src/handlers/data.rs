//! Data-plane APIs: Produce, Fetch, ListOffsets, Metadata, InitProducerId, DeleteRecords.

use std::sync::Arc;
use std::time::{Duration, Instant};

use connectd_log::PartitionLog;
use connectd_record_batch::{
    BatchHeader, MAX_DECOMPRESSED, RecordReader, keyless_records, uncompressed,
};
use futures_util::future::BoxFuture;
use kafka_protocol::ResponseError as E;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{
    BrokerId, DeleteRecordsRequest, DeleteRecordsResponse, FetchRequest, FetchResponse,
    InitProducerIdRequest, InitProducerIdResponse, ListOffsetsRequest, ListOffsetsResponse,
    MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse, ProducerId, ResponseKind,
    TopicName,
};

use super::{Client, RESERVED, str};
use crate::auth::acls::Operation;
use crate::engine::Broker;
use crate::topics::{Topic, validate_topic_name};
use crate::{Error, now_ms};

/// Appends now (in request order), then returns a future that waits for durability.
pub(super) fn produce(
    broker: Arc<Broker>,
    req: ProduceRequest,
    client: &Client,
) -> BoxFuture<'static, Option<ResponseKind>> {
    let acks = req.acks;
    let now = now_ms();
    let mut to_sync: Vec<Arc<PartitionLog>> = Vec::new();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    let transactional = req.transactional_id.is_some();
    for topic_data in req.topic_data {
        let refused = client.refuses_topic(&broker, Operation::Write, topic_data.name.as_str());
        let topic = broker.topics.get(topic_data.name.as_str());
        let mut partitions = Vec::with_capacity(topic_data.partition_data.len());
        for pd in topic_data.partition_data {
            let mut resp = PartitionProduceResponse::default()
                .with_index(pd.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            let outcome = if !matches!(acks, -1..=1) {
                Err(Error::kafka(
                    E::InvalidRequiredAcks,
                    format!("acks must be -1, 0 or 1, got {acks}"),
                ))
            } else if refused {
                Err(Error::kafka(
                    E::TopicAuthorizationFailed,
                    format!("topic {} is {RESERVED}", topic_data.name.as_str()),
                ))
            } else if transactional {
                Err(Error::kafka(
                    E::TransactionalIdAuthorizationFailed,
                    "transactions are not supported",
                ))
            } else {
                match topic.as_ref().and_then(|t| t.partition(pd.index)) {
                    None => Err(crate::topics::unknown_topic(&format!(
                        "{}/{}",
                        topic_data.name.as_str(),
                        pd.index
                    ))),
                    Some(log) => match pd.records.as_deref() {
                        None | Some([]) => Err(Error::kafka(E::CorruptMessage, "empty record set")),
                        Some(records)
                            if refuse_keyless(&log, records, &mut resp, &topic_data.name) =>
                        {
                            Err(Error::kafka(
                                E::InvalidRecord,
                                format!(
                                    "{} record(s) without a key: topic {} is compacted",
                                    resp.record_errors.len(),
                                    topic_data.name.as_str()
                                ),
                            ))
                        }
                        Some(records) => log
                            .append(records, now)
                            .map(|info| (log, info))
                            .map_err(Error::from),
                    },
                }
            };
            match outcome {
                Ok((log, info)) => {
                    if let Some(records) = pd.records.as_deref() {
                        bytes_counter(BYTES_IN, topic_data.name.as_str(), pd.index)
                            .increment(records.len() as u64);
                    }
                    resp.base_offset = info.base_offset;
                    resp.log_append_time_ms = info.log_append_time_ms;
                    resp.log_start_offset = log.log_start_offset();
                    if acks != 0
                        && log.config().fsync_on_ack()
                        && !to_sync.iter().any(|l| Arc::ptr_eq(l, &log))
                    {
                        to_sync.push(log);
                    }
                }
                Err(e) => {
                    tracing::debug!(topic = topic_data.name.as_str(), partition = pd.index, error = %e, "produce refused");
                    resp.error_code = e.code();
                    resp.error_message = Some(str(e.to_string()));
                }
            }
            partitions.push(resp);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic_data.name)
                .with_partition_responses(partitions),
        );
    }
    broker.appended.notify();
    Box::pin(async move {
        if acks == 0 {
            return None;
        }
        let mut storage_error = None;
        // One fsync per touched partition, all in parallel (each partition's own group commit
        // merges them with other requests in flight).
        let syncs = to_sync
            .into_iter()
            .map(|log| tokio::task::spawn_blocking(move || log.sync()));
        for synced in futures_util::future::join_all(syncs).await {
            match synced {
                Ok(Ok(())) => {}
                Ok(Err(e)) => storage_error = Some(e.to_string()),
                Err(e) => storage_error = Some(e.to_string()),
            }
        }
        if let Some(err) = storage_error {
            tracing::error!(error = %err, "fsync failed; failing the produce");
            for t in &mut responses {
                for p in &mut t.partition_responses {
                    if p.error_code == 0 {
                        p.error_code = E::KafkaStorageError.code();
                        p.error_message = Some(str(err.clone()));
                    }
                }
            }
        }
        Some(ResponseKind::Produce(
            ProduceResponse::default().with_responses(responses),
        ))
    })
}

/// Whether a produce to a compacted partition holds records without a key, which Kafka's broker
/// refuses whole (INVALID_RECORD): each such record is named in `resp.record_errors` (KIP-467),
/// and the client fails the rest of the batch with it.
fn refuse_keyless(
    log: &PartitionLog,
    records: &[u8],
    resp: &mut PartitionProduceResponse,
    topic: &TopicName,
) -> bool {
    if !log.config().cleanup_compact {
        return false;
    }
    // A batch that does not parse is refused by the append, as CORRUPT_MESSAGE.
    let keyless = keyless_records(records).unwrap_or_default();
    resp.record_errors = keyless
        .iter()
        .map(|&i| {
            BatchIndexAndErrorMessage::default()
                .with_batch_index(i)
                .with_batch_index_error_message(Some(str(format!(
                    "Compacted topic cannot accept message without key in topic partition {}-{}.",
                    topic.as_str(),
                    resp.index
                ))))
        })
        .collect();
    !keyless.is_empty()
}

/// Record batch bytes appended by produce requests, by topic and partition.
const BYTES_IN: &str = "connectd_broker_bytes_in_total";
/// Record batch bytes sent in fetch responses, by topic and partition.
const BYTES_OUT: &str = "connectd_broker_bytes_out_total";

pub(crate) fn describe_metrics() {
    metrics::describe_counter!(
        BYTES_IN,
        metrics::Unit::Bytes,
        "Record batch bytes appended by produce requests."
    );
    metrics::describe_counter!(
        BYTES_OUT,
        metrics::Unit::Bytes,
        "Record batch bytes sent in fetch responses."
    );
}

fn bytes_counter(name: &'static str, topic: &str, partition: i32) -> metrics::Counter {
    metrics::counter!(name, "topic" => topic.to_string(), "partition" => partition.to_string())
}

/// Long-polls until `min_bytes` are available or `max_wait_ms` passes.
pub(super) async fn fetch(broker: Arc<Broker>, req: FetchRequest, client: Client) -> FetchResponse {
    let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    loop {
        let notified = broker.appended.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (response, bytes, errors) = read_fetch(&broker, &req, &client);
        let now = Instant::now();
        if bytes >= req.min_bytes.max(1) as usize || errors || now >= deadline {
            for topic in &response.responses {
                for p in &topic.partitions {
                    if let Some(records) = p.records.as_ref().filter(|r| !r.is_empty()) {
                        bytes_counter(BYTES_OUT, topic.topic.as_str(), p.partition_index)
                            .increment(records.len() as u64);
                    }
                }
            }
            return response;
        }
        let _ = tokio::time::timeout(deadline - now, notified).await;
    }
}

fn read_fetch(
    broker: &Broker,
    req: &FetchRequest,
    client: &Client,
) -> (FetchResponse, usize, bool) {
    let mut remaining = if req.max_bytes > 0 {
        req.max_bytes as usize
    } else {
        usize::MAX
    };
    let mut total = 0usize;
    let mut errors = false;
    let mut topics = Vec::with_capacity(req.topics.len());
    for ft in &req.topics {
        let refused = client.refuses_topic(broker, Operation::Read, ft.topic.as_str());
        let topic = broker.topics.get(ft.topic.as_str()).filter(|_| !refused);
        let mut partitions = Vec::with_capacity(ft.partitions.len());
        for fp in &ft.partitions {
            let mut pd = PartitionData::default()
                .with_partition_index(fp.partition)
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1);
            match topic.as_ref().and_then(|t| t.partition(fp.partition)) {
                None => {
                    pd.error_code = not_found(refused);
                    errors = true;
                }
                Some(log) => {
                    let max = (fp.partition_max_bytes.max(0) as usize).min(remaining);
                    let result = if max == 0 && total > 0 {
                        // Response full: report bounds only (KIP-74 lets the first batch overshoot).
                        Ok(connectd_log::ReadInfo {
                            records: None,
                            high_watermark: log.log_end_offset(),
                            log_start_offset: log.log_start_offset(),
                        })
                    } else {
                        log.read(fp.fetch_offset, max.max(1))
                    };
                    match result {
                        Ok(read) => {
                            pd.high_watermark = read.high_watermark;
                            pd.last_stable_offset = read.high_watermark;
                            pd.log_start_offset = read.log_start_offset;
                            if let Some(records) = read.records {
                                total += records.len();
                                remaining = remaining.saturating_sub(records.len());
                                pd.records = Some(records);
                            }
                        }
                        Err(e) => {
                            pd.error_code = Error::from(e).code();
                            pd.high_watermark = log.log_end_offset();
                            pd.log_start_offset = log.log_start_offset();
                            errors = true;
                        }
                    }
                }
            }
            partitions.push(pd);
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(ft.topic.clone())
                .with_topic_id(ft.topic_id)
                .with_partitions(partitions),
        );
    }
    (
        FetchResponse::default().with_responses(topics),
        total,
        errors,
    )
}

pub(super) async fn list_offsets(
    broker: Arc<Broker>,
    req: ListOffsetsRequest,
    client: Client,
) -> ListOffsetsResponse {
    let mut topics = Vec::new();
    for t in req.topics {
        let refused = client.refuses_topic(&broker, Operation::Describe, t.name.as_str());
        let topic = broker.topics.get(t.name.as_str()).filter(|_| !refused);
        let mut partitions = Vec::new();
        for p in t.partitions {
            let mut r = ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_timestamp(-1)
                .with_offset(-1);
            match topic.as_ref().and_then(|t| t.partition(p.partition_index)) {
                None => r.error_code = not_found(refused),
                Some(log) => {
                    let found = match p.timestamp {
                        -1 => Ok(Some((log.log_end_offset(), -1))),
                        -2 => Ok(Some((log.log_start_offset(), -1))),
                        -3 => log.max_timestamp().and_then(|m| match m {
                            Some((_, ts)) => exact_offset_for_timestamp(&log, ts),
                            None => Ok(None),
                        }),
                        ts if ts >= 0 => exact_offset_for_timestamp(&log, ts),
                        _ => Err(connectd_log::Error::OffsetOutOfRange {
                            offset: p.timestamp,
                            start: 0,
                            end: 0,
                        }),
                    };
                    match found {
                        Ok(Some((offset, ts))) => {
                            r.offset = offset;
                            r.timestamp = ts;
                        }
                        Ok(None) => {}
                        Err(e) => r.error_code = Error::from(e).code(),
                    }
                }
            }
            partitions.push(r);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}

/// The first record (offset, timestamp) with a timestamp at least `ts`. The log finds the
/// batch; the records inside it are decoded (decompressed if need be) to find the exact record,
/// as Kafka answers ListOffsets.
fn exact_offset_for_timestamp(
    log: &PartitionLog,
    ts: i64,
) -> connectd_log::Result<Option<(i64, i64)>> {
    let Some((base, batch_max)) = log.offset_for_timestamp(ts)? else {
        return Ok(None);
    };
    let Some(batch) = log.read(base, 1)?.records else {
        return Ok(Some((base, batch_max)));
    };
    let found = (|| {
        let header = BatchHeader::parse(&batch)?;
        let records = batch.get(..header.size).ok_or_else(|| {
            connectd_record_batch::Error::CorruptBatch("batch runs past the read".into())
        })?;
        let records = uncompressed(&header, records, MAX_DECOMPRESSED)?;
        for record in RecordReader::new(&records, 0..records.len(), header.record_count) {
            let record = record?;
            let timestamp = header.base_timestamp + record.timestamp_delta;
            if timestamp >= ts {
                return Ok(Some((header.base_offset + record.offset_delta, timestamp)));
            }
        }
        Ok::<_, connectd_record_batch::Error>(None)
    })();
    match found {
        Ok(found) => Ok(found.or(Some((base, batch_max)))),
        Err(e) => {
            tracing::warn!(error = %e, "could not decode batch for timestamp lookup; answering with its base offset");
            Ok(Some((base, batch_max)))
        }
    }
}

pub(super) async fn metadata(
    broker: Arc<Broker>,
    req: MetadataRequest,
    version: i16,
    client: Client,
) -> MetadataResponse {
    let node = BrokerId(broker.config.node_id);
    let (host, port) = broker.advertised(client.listener);
    let brokers = vec![
        MetadataResponseBroker::default()
            .with_node_id(node)
            .with_host(str(host))
            .with_port(port),
    ];
    let requested: Option<Vec<String>> = match &req.topics {
        None => None,
        Some(list) if list.is_empty() && version == 0 => None, // v0: empty means all
        Some(list) => Some(
            list.iter()
                .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
                .collect(),
        ),
    };
    let mut topics = Vec::new();
    match requested {
        None => {
            for t in broker.topics.all() {
                if !client.refuses_topic(&broker, Operation::Describe, &t.name) {
                    topics.push(topic_metadata(&t, node));
                }
            }
        }
        Some(names) => {
            for name in names {
                if client.refuses_topic(&broker, Operation::Describe, &name) {
                    topics.push(
                        MetadataResponseTopic::default()
                            .with_name(Some(TopicName(str(name))))
                            .with_error_code(E::TopicAuthorizationFailed.code()),
                    );
                    continue;
                }
                let mut topic = broker.topics.get(&name);
                if topic.is_none()
                    && req.allow_auto_topic_creation
                    && broker.config.auto_create_topics_enable
                    && validate_topic_name(&name).is_ok()
                    && (!client.refuses_cluster(&broker, Operation::Create)
                        || !client.refuses_topic(&broker, Operation::Create, &name))
                {
                    let b = broker.clone();
                    let n = name.clone();
                    let created = tokio::task::spawn_blocking(move || {
                        b.topics
                            .create(&n, b.config.num_partitions, Default::default(), false)
                    })
                    .await;
                    topic = match created {
                        Ok(Ok(t)) => Some(t),
                        // Lost a race with another creator: use theirs.
                        _ => broker.topics.get(&name),
                    };
                }
                match topic {
                    Some(t) => topics.push(topic_metadata(&t, node)),
                    None => {
                        let code = match validate_topic_name(&name) {
                            Err(e) => e.code(),
                            Ok(()) => E::UnknownTopicOrPartition.code(),
                        };
                        topics.push(
                            MetadataResponseTopic::default()
                                .with_name(Some(TopicName(str(name))))
                                .with_error_code(code),
                        );
                    }
                }
            }
        }
    }
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(str(broker.cluster_id.clone())))
        .with_controller_id(node)
        .with_topics(topics)
}

fn topic_metadata(topic: &Topic, node: BrokerId) -> MetadataResponseTopic {
    let partitions = (0..topic.partition_count())
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p)
                .with_leader_id(node)
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(topic.name.starts_with("__"))
        .with_partitions(partitions)
}

pub(super) async fn init_producer_id(
    broker: Arc<Broker>,
    req: InitProducerIdRequest,
    client: Client,
) -> InitProducerIdResponse {
    // An idempotent producer needs IdempotentWrite on the cluster, or Write on some topic
    // (Kafka 3.0's rule).
    let idempotent = !client.refuses_cluster(&broker, Operation::IdempotentWrite)
        || broker.security.acls.authorize_any(
            &client.principal,
            &client.host,
            Operation::Write,
            crate::auth::acls::ResourceType::Topic,
        );
    if !idempotent {
        return InitProducerIdResponse::default()
            .with_error_code(E::ClusterAuthorizationFailed.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    if req.transactional_id.is_some() {
        return InitProducerIdResponse::default()
            .with_error_code(E::TransactionalIdAuthorizationFailed.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    // KIP-360: a producer that already has an id may bump its epoch.
    let (id, epoch) = if req.producer_id.0 >= 0 && req.producer_epoch >= 0 {
        (req.producer_id.0, req.producer_epoch.saturating_add(1))
    } else {
        let b = broker.clone();
        let reserved = tokio::task::spawn_blocking(move || b.producer_ids.next())
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        match reserved {
            Ok(id) => (id, 0),
            Err(reason) => {
                tracing::error!(error = %reason, "could not reserve producer ids");
                return InitProducerIdResponse::default()
                    .with_error_code(E::KafkaStorageError.code())
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1);
            }
        }
    };
    InitProducerIdResponse::default()
        .with_producer_id(ProducerId(id))
        .with_producer_epoch(epoch)
}

pub(super) async fn delete_records(
    broker: Arc<Broker>,
    req: DeleteRecordsRequest,
    client: Client,
) -> DeleteRecordsResponse {
    let mut topics = Vec::new();
    for t in req.topics {
        let refused = client.refuses_topic(&broker, Operation::Delete, t.name.as_str());
        let topic = broker.topics.get(t.name.as_str()).filter(|_| !refused);
        let mut partitions = Vec::new();
        for p in t.partitions {
            let mut r = DeleteRecordsPartitionResult::default()
                .with_partition_index(p.partition_index)
                .with_low_watermark(-1);
            match topic.as_ref().and_then(|t| t.partition(p.partition_index)) {
                None => r.error_code = not_found(refused),
                Some(log) => {
                    match tokio::task::spawn_blocking(move || log.delete_records_before(p.offset))
                        .await
                    {
                        Ok(Ok(low)) => r.low_watermark = low,
                        Ok(Err(e)) => r.error_code = Error::from(e).code(),
                        Err(_) => r.error_code = E::UnknownServerError.code(),
                    }
                }
            }
            partitions.push(r);
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}

/// The error for a partition that was not found: refused, or unknown.
fn not_found(refused: bool) -> i16 {
    if refused {
        E::TopicAuthorizationFailed.code()
    } else {
        E::UnknownTopicOrPartition.code()
    }
}
