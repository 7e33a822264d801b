//! One function per API: a decoded request in, a response out. [`start`] dispatches; the
//! version table in [`crate::versions`] is what ApiVersions advertises.

mod admin;
mod data;
pub(crate) use data::describe_metrics;
mod group;
mod security;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsResponse, RequestHeader, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use crate::auth::acls::{Operation, ResourceType};
use crate::engine::Broker;
use crate::versions::{SUPPORTED, supported_versions};

/// Connection-level context handlers may need: who is asking.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    /// The request header's client id.
    pub id: String,
    /// The peer's address.
    pub host: String,
    /// The peer's address and port.
    pub peer: std::net::SocketAddr,
    /// The principal the connection authenticated as (`User:ANONYMOUS` if none).
    pub principal: std::sync::Arc<str>,
    /// The listener it came through, by index.
    pub listener: usize,
}

impl Client {
    /// Whether this client must be refused `operation` on the topic `name`: a name reserved
    /// for the workers ([`crate::reserved`]) it may not use, or an ACL check that fails.
    pub(crate) fn refuses_topic(&self, broker: &Broker, operation: Operation, name: &str) -> bool {
        let reserved = broker
            .reserved
            .get()
            .is_some_and(|r| r.refuses_topic(self, name));
        reserved || !self.authorized(broker, operation, ResourceType::Topic, name)
    }

    /// Whether this client must be refused `operation` on the group `name`.
    pub(crate) fn refuses_group(&self, broker: &Broker, operation: Operation, name: &str) -> bool {
        let reserved = broker
            .reserved
            .get()
            .is_some_and(|r| r.refuses_group(self, name));
        reserved || !self.authorized(broker, operation, ResourceType::Group, name)
    }

    /// Whether this client must be refused `operation` on the cluster.
    pub(crate) fn refuses_cluster(&self, broker: &Broker, operation: Operation) -> bool {
        !self.authorized(broker, operation, ResourceType::Cluster, CLUSTER)
    }

    fn authorized(
        &self,
        broker: &Broker,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        let allowed = broker.security.acls.authorize(
            &self.principal,
            &self.host,
            operation,
            resource_type,
            name,
        );
        if !allowed {
            tracing::debug!(principal = %self.principal, host = %self.host, ?operation, ?resource_type, name, "denied");
        }
        allowed
    }
}

/// The cluster resource's name in ACLs.
pub(crate) const CLUSTER: &str = "kafka-cluster";

/// Why a request was refused, for error messages.
pub(crate) const RESERVED: &str = "not authorized: an ACL does not allow it to this principal, or it is reserved for connectd workers";

fn api_versions() -> ApiVersionsResponse {
    let keys = SUPPORTED
        .iter()
        .filter_map(|(k, _, _)| {
            supported_versions(*k).map(|(min, max)| {
                ApiVersion::default()
                    .with_api_key(*k as i16)
                    .with_min_version(min)
                    .with_max_version(max)
            })
        })
        .collect();
    ApiVersionsResponse::default().with_api_keys(keys)
}

/// KIP-511: the answer to an ApiVersions version we do not speak.
pub(crate) fn api_versions_unsupported() -> ResponseKind {
    ResponseKind::ApiVersions(
        api_versions().with_error_code(kafka_protocol::ResponseError::UnsupportedVersion.code()),
    )
}

/// Starts one request. Work that must happen in request order (produce appends) happens now;
/// the rest runs when the returned future is polled. `None` means send no response (acks=0).
pub(crate) fn start(
    broker: Arc<Broker>,
    header: &RequestHeader,
    request: RequestKind,
    client: Client,
) -> BoxFuture<'static, Option<ResponseKind>> {
    let version = header.request_api_version;
    macro_rules! respond {
        ($variant:ident, $fut:expr) => {
            Box::pin(async move { Some(ResponseKind::$variant($fut.await)) })
        };
    }
    match request {
        RequestKind::Produce(req) => data::produce(broker, req, &client),
        RequestKind::ApiVersions(_) => {
            Box::pin(async move { Some(ResponseKind::ApiVersions(api_versions())) })
        }
        RequestKind::Metadata(req) => {
            respond!(Metadata, data::metadata(broker, req, version, client))
        }
        RequestKind::Fetch(req) => respond!(Fetch, data::fetch(broker, req, client)),
        RequestKind::ListOffsets(req) => {
            respond!(ListOffsets, data::list_offsets(broker, req, client))
        }
        RequestKind::InitProducerId(req) => {
            respond!(InitProducerId, data::init_producer_id(broker, req, client))
        }
        RequestKind::DeleteRecords(req) => {
            respond!(DeleteRecords, data::delete_records(broker, req, client))
        }
        RequestKind::CreateTopics(req) => {
            respond!(CreateTopics, admin::create_topics(broker, req, client))
        }
        RequestKind::DeleteTopics(req) => {
            respond!(
                DeleteTopics,
                admin::delete_topics(broker, req, version, client)
            )
        }
        RequestKind::CreatePartitions(req) => {
            respond!(
                CreatePartitions,
                admin::create_partitions(broker, req, client)
            )
        }
        RequestKind::DescribeConfigs(req) => {
            respond!(
                DescribeConfigs,
                admin::describe_configs(broker, req, client)
            )
        }
        RequestKind::AlterConfigs(req) => {
            respond!(AlterConfigs, admin::alter_configs(broker, req, client))
        }
        RequestKind::IncrementalAlterConfigs(req) => respond!(
            IncrementalAlterConfigs,
            admin::incremental_alter_configs(broker, req, client)
        ),
        RequestKind::FindCoordinator(req) => respond!(
            FindCoordinator,
            group::find_coordinator(broker, req, version, client)
        ),
        RequestKind::JoinGroup(req) => {
            respond!(JoinGroup, group::join_group(broker, req, version, client))
        }
        RequestKind::SyncGroup(req) => respond!(SyncGroup, group::sync_group(broker, req, client)),
        RequestKind::Heartbeat(req) => respond!(Heartbeat, group::heartbeat(broker, req, client)),
        RequestKind::LeaveGroup(req) => {
            respond!(LeaveGroup, group::leave_group(broker, req, version, client))
        }
        RequestKind::OffsetCommit(req) => {
            respond!(OffsetCommit, group::offset_commit(broker, req, client))
        }
        RequestKind::OffsetFetch(req) => {
            respond!(
                OffsetFetch,
                group::offset_fetch(broker, req, version, client)
            )
        }
        RequestKind::ListGroups(req) => {
            respond!(ListGroups, group::list_groups(broker, req, client))
        }
        RequestKind::DescribeGroups(req) => {
            respond!(DescribeGroups, group::describe_groups(broker, req, client))
        }
        RequestKind::DeleteGroups(req) => {
            respond!(DeleteGroups, group::delete_groups(broker, req, client))
        }
        RequestKind::DescribeUserScramCredentials(req) => respond!(
            DescribeUserScramCredentials,
            security::describe_user_scram_credentials(broker, req, client)
        ),
        RequestKind::AlterUserScramCredentials(req) => respond!(
            AlterUserScramCredentials,
            security::alter_user_scram_credentials(broker, req, client)
        ),
        RequestKind::CreateAcls(req) => {
            respond!(CreateAcls, security::create_acls(broker, req, client))
        }
        RequestKind::DescribeAcls(req) => {
            respond!(DescribeAcls, security::describe_acls(broker, req, client))
        }
        RequestKind::DeleteAcls(req) => {
            respond!(DeleteAcls, security::delete_acls(broker, req, client))
        }
        other => {
            // Unreachable (SaslHandshake and SaslAuthenticate are answered by the server,
            // which keeps the connection's authentication state): the server refuses versions of APIs not in SUPPORTED before decoding.
            tracing::error!(request = ?std::mem::discriminant(&other), "request for an API not in the supported table");
            Box::pin(async { None })
        }
    }
}

pub(crate) fn str(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}
