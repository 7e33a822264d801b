//! Users and ACLs over the wire: KIP-554's DescribeUserScramCredentials and
//! AlterUserScramCredentials, and CreateAcls, DescribeAcls, DeleteAcls. Reading needs DESCRIBE
//! on the cluster, changing needs ALTER, as in Kafka.

use std::sync::Arc;

use connectd_security::scram::{Credential, Mechanism};
use kafka_protocol::ResponseError as E;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, CreateAclsRequest,
    CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest,
    DescribeAclsResponse, DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{Client, str};
use crate::auth::acls::{
    AclBinding, AclFilter, Operation, PatternFilter, PatternType, Permission, ResourceType,
};
use crate::auth::credentials::Change;
use crate::engine::Broker;

const NOT_ALLOWED: &str = "not authorized: needs an ACL on the cluster (kafka-cluster)";

pub(super) async fn describe_user_scram_credentials(
    broker: Arc<Broker>,
    req: DescribeUserScramCredentialsRequest,
    client: Client,
) -> DescribeUserScramCredentialsResponse {
    if client.refuses_cluster(&broker, Operation::Describe) {
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(E::ClusterAuthorizationFailed.code())
            .with_error_message(Some(str(NOT_ALLOWED)));
    }
    let all = broker.security.credentials.describe();
    let info = |list: &[(Mechanism, u32)]| {
        list.iter()
            .map(|(m, i)| {
                CredentialInfo::default()
                    .with_mechanism(m.kip554_type())
                    .with_iterations(*i as i32)
            })
            .collect()
    };
    let results = match req.users.filter(|u| !u.is_empty()) {
        None => all
            .iter()
            .map(|(user, list)| {
                DescribeUserScramCredentialsResult::default()
                    .with_user(str(user.clone()))
                    .with_credential_infos(info(list))
            })
            .collect(),
        Some(users) => {
            let mut seen = std::collections::HashSet::new();
            users
                .iter()
                .map(|u| {
                    let name = u.name.to_string();
                    let r = DescribeUserScramCredentialsResult::default().with_user(u.name.clone());
                    if !seen.insert(name.clone()) {
                        return r
                            .with_error_code(E::DuplicateResource.code())
                            .with_error_message(Some(str(format!(
                                "user {name} is asked for twice"
                            ))));
                    }
                    match all.iter().find(|(user, _)| *user == name) {
                        Some((_, list)) => r.with_credential_infos(info(list)),
                        None => r
                            .with_error_code(E::ResourceNotFound.code())
                            .with_error_message(Some(str(format!(
                                "attempt to describe a user credential that does not exist: {name}"
                            )))),
                    }
                })
                .collect()
        }
    };
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

/// Per user, the first error its changes met.
type Results = Vec<(StrBytes, Option<(E, String)>)>;

fn fail(results: &mut Results, user: &StrBytes, error: E, message: String) {
    match results.iter_mut().find(|(u, _)| u == user) {
        Some((_, slot @ None)) => *slot = Some((error, message)),
        Some(_) => {}
        None => results.push((user.clone(), Some((error, message)))),
    }
}

/// The mechanism of one deletion or upsertion, or `None` (the user's error recorded) when the
/// mechanism is unknown or the user name empty or `ANONYMOUS`: that is the name of every client
/// that did not log in, and a user of that name would be one principal with them in ACLs and in
/// `internal_allowed_clients`' trust.
fn checked(results: &mut Results, user: &StrBytes, mechanism: i8) -> Option<Mechanism> {
    let Some(m) = Mechanism::from_kip554_type(mechanism) else {
        fail(
            results,
            user,
            E::UnsupportedSaslMechanism,
            format!("unknown SCRAM mechanism {mechanism}"),
        );
        return None;
    };
    let refused = match user.as_str() {
        "" => "the user name is empty",
        "ANONYMOUS" => {
            "ANONYMOUS is the principal of clients that do not log in; choose another name"
        }
        _ => return Some(m),
    };
    fail(results, user, E::UnacceptableCredential, refused.into());
    None
}

pub(super) async fn alter_user_scram_credentials(
    broker: Arc<Broker>,
    req: AlterUserScramCredentialsRequest,
    client: Client,
) -> AlterUserScramCredentialsResponse {
    // Results are per user: the first error a user's changes meet is the user's.
    let mut results: Results = Vec::new();
    let refused = client.refuses_cluster(&broker, Operation::Alter);
    let mut changes = Vec::new();
    let mut owners = Vec::new();
    for d in &req.deletions {
        let Some(m) = checked(&mut results, &d.name, d.mechanism) else {
            continue;
        };
        owners.push(d.name.clone());
        changes.push(Change::Delete(d.name.to_string(), m));
    }
    for u in &req.upsertions {
        let Some(m) = checked(&mut results, &u.name, u.mechanism) else {
            continue;
        };
        if !crate::auth::acceptable_iterations(u.iterations) {
            fail(
                &mut results,
                &u.name,
                E::UnacceptableCredential,
                format!(
                    "{} iterations; SCRAM credentials take 4096 to 16384",
                    u.iterations
                ),
            );
            continue;
        }
        if u.salt.is_empty() || u.salted_password.is_empty() {
            fail(
                &mut results,
                &u.name,
                E::UnacceptableCredential,
                "salt and salted password must not be empty".into(),
            );
            continue;
        }
        owners.push(u.name.clone());
        changes.push(Change::Upsert(
            u.name.to_string(),
            m,
            Credential::from_salted_password(m, &u.salted_password, &u.salt, u.iterations as u32),
        ));
    }
    // The workers' user is worker.toml's: over the wire, nobody (not even a super user)
    // may change or delete its credentials and so become the workers' principal.
    let workers = broker.config.sasl.admin_user.as_deref();
    for owner in &owners {
        if workers == Some(owner.as_str()) {
            fail(
                &mut results,
                owner,
                E::ClusterAuthorizationFailed,
                format!(
                    "user {owner} is the workers' user ([broker.sasl] admin_user): set its password in worker.toml"
                ),
            );
        } else if refused {
            fail(
                &mut results,
                owner,
                E::ClusterAuthorizationFailed,
                NOT_ALLOWED.into(),
            );
        } else if !results.iter().any(|(u, _)| u == owner) {
            results.push((owner.clone(), None));
        }
    }
    // Only users all of whose changes are acceptable are changed.
    let (ok, ok_owners): (Vec<_>, Vec<_>) = changes
        .into_iter()
        .zip(owners)
        .filter(|(_, o)| results.iter().any(|(u, e)| u == o && e.is_none()))
        .unzip();
    if !ok.is_empty() {
        let store = broker.clone();
        let outcome =
            tokio::task::spawn_blocking(move || store.security.credentials.alter(ok)).await;
        match outcome {
            Ok(Ok(per_change)) => {
                for (outcome, owner) in per_change.into_iter().zip(&ok_owners) {
                    if outcome.is_err() {
                        fail(
                            &mut results,
                            owner,
                            E::ResourceNotFound,
                            format!(
                                "attempt to delete a user credential that does not exist: {owner}"
                            ),
                        );
                    }
                }
            }
            Ok(Err(e)) => {
                for owner in &ok_owners {
                    fail(&mut results, owner, E::KafkaStorageError, e.to_string());
                }
            }
            Err(e) => {
                for owner in &ok_owners {
                    fail(&mut results, owner, E::UnknownServerError, e.to_string());
                }
            }
        }
    }
    let results = results
        .into_iter()
        .map(|(user, error)| {
            let r = AlterUserScramCredentialsResult::default().with_user(user);
            match error {
                None => r,
                Some((e, message)) => r
                    .with_error_code(e.code())
                    .with_error_message(Some(str(message))),
            }
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}

/// One ACL from a CreateAcls entry, or why it is not one.
fn binding(
    resource_type: i8,
    resource_name: &str,
    pattern: i8,
    principal: &str,
    host: &str,
    operation: i8,
    permission: i8,
) -> Result<AclBinding, String> {
    let resource_type =
        ResourceType::from_code(resource_type).ok_or(format!("resource type {resource_type} is not one of topic (2), group (3), cluster (4), transactional id (5)"))?;
    let pattern_type = match pattern {
        3 => PatternType::Literal,
        4 => PatternType::Prefixed,
        p => {
            return Err(format!(
                "pattern type {p} is not literal (3) or prefixed (4)"
            ));
        }
    };
    let operation = Operation::from_code(operation)
        .ok_or(format!("operation {operation} is not an ACL operation"))?;
    let permission = match permission {
        2 => Permission::Deny,
        3 => Permission::Allow,
        p => return Err(format!("permission type {p} is not deny (2) or allow (3)")),
    };
    if !principal.contains(':') || principal.ends_with(':') {
        return Err(format!(
            "principal {principal:?} is not of the form User:<name>"
        ));
    }
    if resource_name.is_empty() {
        return Err("the resource name is empty".into());
    }
    if resource_type == ResourceType::Cluster && resource_name != super::CLUSTER {
        return Err(format!("the cluster resource is named {}", super::CLUSTER));
    }
    Ok(AclBinding {
        resource_type,
        resource_name: resource_name.to_string(),
        pattern_type,
        principal: principal.to_string(),
        host: host.to_string(),
        operation,
        permission,
    })
}

/// A DescribeAcls or DeleteAcls filter, or why it is not one.
#[allow(clippy::too_many_arguments)]
fn filter(
    resource_type: i8,
    resource_name: Option<&StrBytes>,
    pattern: i8,
    principal: Option<&StrBytes>,
    host: Option<&StrBytes>,
    operation: i8,
    permission: i8,
) -> Result<AclFilter, String> {
    const ANY: i8 = 1;
    Ok(AclFilter {
        resource_type: match resource_type {
            ANY => None,
            t => Some(
                ResourceType::from_code(t).ok_or(format!("resource type {t} is not a filter"))?,
            ),
        },
        resource_name: resource_name.map(|n| n.to_string()),
        pattern: match pattern {
            ANY => PatternFilter::Any,
            2 => PatternFilter::Match,
            3 => PatternFilter::Only(PatternType::Literal),
            4 => PatternFilter::Only(PatternType::Prefixed),
            p => {
                return Err(format!(
                    "pattern type filter {p} is not any, match, literal or prefixed"
                ));
            }
        },
        principal: principal.map(|p| p.to_string()),
        host: host.map(|h| h.to_string()),
        operation: match operation {
            ANY => None,
            o => Some(Operation::from_code(o).ok_or(format!("operation {o} is not a filter"))?),
        },
        permission: match permission {
            ANY => None,
            2 => Some(Permission::Deny),
            3 => Some(Permission::Allow),
            p => return Err(format!("permission type {p} is not a filter")),
        },
    })
}

pub(super) async fn create_acls(
    broker: Arc<Broker>,
    req: CreateAclsRequest,
    client: Client,
) -> CreateAclsResponse {
    let refused = client.refuses_cluster(&broker, Operation::Alter);
    let mut results = Vec::new();
    let mut valid = Vec::new();
    for c in &req.creations {
        let parsed = binding(
            c.resource_type,
            c.resource_name.as_str(),
            c.resource_pattern_type,
            c.principal.as_str(),
            c.host.as_str(),
            c.operation,
            c.permission_type,
        );
        results.push(match (refused, parsed) {
            (true, _) => AclCreationResult::default()
                .with_error_code(E::ClusterAuthorizationFailed.code())
                .with_error_message(Some(str(NOT_ALLOWED))),
            (false, Err(reason)) => AclCreationResult::default()
                .with_error_code(E::InvalidRequest.code())
                .with_error_message(Some(str(reason))),
            (false, Ok(acl)) => {
                valid.push(acl);
                AclCreationResult::default()
            }
        });
    }
    if !valid.is_empty() {
        let store = broker.clone();
        let stored = tokio::task::spawn_blocking(move || store.security.acls.create(valid))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        if let Err(reason) = stored {
            for r in results.iter_mut().filter(|r| r.error_code == 0) {
                r.error_code = E::KafkaStorageError.code();
                r.error_message = Some(str(reason.clone()));
            }
        }
    }
    CreateAclsResponse::default().with_results(results)
}

pub(super) async fn describe_acls(
    broker: Arc<Broker>,
    req: DescribeAclsRequest,
    client: Client,
) -> DescribeAclsResponse {
    if client.refuses_cluster(&broker, Operation::Describe) {
        return DescribeAclsResponse::default()
            .with_error_code(E::ClusterAuthorizationFailed.code())
            .with_error_message(Some(str(NOT_ALLOWED)));
    }
    let f = match filter(
        req.resource_type_filter,
        req.resource_name_filter.as_ref(),
        req.pattern_type_filter,
        req.principal_filter.as_ref(),
        req.host_filter.as_ref(),
        req.operation,
        req.permission_type,
    ) {
        Ok(f) => f,
        Err(reason) => {
            return DescribeAclsResponse::default()
                .with_error_code(E::InvalidRequest.code())
                .with_error_message(Some(str(reason)));
        }
    };
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    for acl in broker.security.acls.describe(&f) {
        let description = AclDescription::default()
            .with_principal(str(acl.principal.clone()))
            .with_host(str(acl.host.clone()))
            .with_operation(acl.operation.code())
            .with_permission_type(acl.permission.code());
        let same = |r: &&mut DescribeAclsResource| {
            r.resource_type == acl.resource_type.code()
                && r.resource_name.as_str() == acl.resource_name
                && r.pattern_type == acl.pattern_type.code()
        };
        match resources.iter_mut().find(same) {
            Some(r) => r.acls.push(description),
            None => resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(acl.resource_type.code())
                    .with_resource_name(str(acl.resource_name.clone()))
                    .with_pattern_type(acl.pattern_type.code())
                    .with_acls(vec![description]),
            ),
        }
    }
    DescribeAclsResponse::default().with_resources(resources)
}

pub(super) async fn delete_acls(
    broker: Arc<Broker>,
    req: DeleteAclsRequest,
    client: Client,
) -> DeleteAclsResponse {
    let refused = client.refuses_cluster(&broker, Operation::Alter);
    let parsed: Vec<Result<AclFilter, (E, String)>> = req
        .filters
        .iter()
        .map(|f| {
            if refused {
                return Err((E::ClusterAuthorizationFailed, NOT_ALLOWED.to_string()));
            }
            filter(
                f.resource_type_filter,
                f.resource_name_filter.as_ref(),
                f.pattern_type_filter,
                f.principal_filter.as_ref(),
                f.host_filter.as_ref(),
                f.operation,
                f.permission_type,
            )
            .map_err(|reason| (E::InvalidRequest, reason))
        })
        .collect();
    let valid: Vec<AclFilter> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok().cloned())
        .collect();
    let store = broker.clone();
    let removed = tokio::task::spawn_blocking(move || store.security.acls.delete(&valid))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    let mut removed = match removed {
        Ok(r) => r.into_iter(),
        Err(reason) => {
            let results = parsed
                .iter()
                .map(|_| {
                    DeleteAclsFilterResult::default()
                        .with_error_code(E::KafkaStorageError.code())
                        .with_error_message(Some(str(reason.clone())))
                })
                .collect();
            return DeleteAclsResponse::default().with_filter_results(results);
        }
    };
    let results = parsed
        .into_iter()
        .map(|p| match p {
            Err((e, reason)) => DeleteAclsFilterResult::default()
                .with_error_code(e.code())
                .with_error_message(Some(str(reason))),
            Ok(_) => {
                let matching = removed
                    .next()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|acl| {
                        DeleteAclsMatchingAcl::default()
                            .with_resource_type(acl.resource_type.code())
                            .with_resource_name(str(acl.resource_name))
                            .with_pattern_type(acl.pattern_type.code())
                            .with_principal(str(acl.principal))
                            .with_host(str(acl.host))
                            .with_operation(acl.operation.code())
                            .with_permission_type(acl.permission.code())
                    })
                    .collect();
                DeleteAclsFilterResult::default().with_matching_acls(matching)
            }
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}
