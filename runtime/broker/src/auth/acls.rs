//! Kafka's ACLs (`__meta/acls.json`) and the authorizer that checks them, as Kafka's
//! `StandardAuthorizer` does:
//!
//! - a super user is allowed everything;
//! - an ACL applies when its resource matches (a literal name, the literal `*`, or a prefix),
//!   its principal is the client's or `User:*`, and its host is the client's or `*`;
//! - a matching DENY for the operation (or ALL) wins over any ALLOW;
//! - an ALLOW for the operation or ALL allows it; READ, WRITE, DELETE or ALTER imply DESCRIBE,
//!   and ALTER_CONFIGS implies DESCRIBE_CONFIGS;
//! - a resource no ACL names at all is allowed only if `allow_everyone_if_no_acl_found`.

use std::path::{Path, PathBuf};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::Result;

/// Kafka's resource types, by their wire codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResourceType {
    /// A topic.
    Topic,
    /// A consumer group.
    Group,
    /// The cluster (`kafka-cluster`).
    Cluster,
    /// A transactional id.
    TransactionalId,
}

impl ResourceType {
    /// The wire code.
    pub fn code(self) -> i8 {
        match self {
            ResourceType::Topic => 2,
            ResourceType::Group => 3,
            ResourceType::Cluster => 4,
            ResourceType::TransactionalId => 5,
        }
    }

    /// The type of a wire code (1, ANY, is a filter, not a type).
    pub fn from_code(code: i8) -> Option<Self> {
        [
            ResourceType::Topic,
            ResourceType::Group,
            ResourceType::Cluster,
            ResourceType::TransactionalId,
        ]
        .into_iter()
        .find(|t| t.code() == code)
    }
}

/// How an ACL's resource name matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PatternType {
    /// The exact name, or every name when it is `*`.
    Literal,
    /// Every name that starts with it.
    Prefixed,
}

impl PatternType {
    /// The wire code.
    pub fn code(self) -> i8 {
        match self {
            PatternType::Literal => 3,
            PatternType::Prefixed => 4,
        }
    }
}

/// Kafka's ACL operations, by wire code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    /// Every operation.
    All,
    /// Read
    Read,
    /// Write
    Write,
    /// Create
    Create,
    /// Delete
    Delete,
    /// Alter
    Alter,
    /// Describe
    Describe,
    /// ClusterAction
    ClusterAction,
    /// DescribeConfigs
    DescribeConfigs,
    /// AlterConfigs
    AlterConfigs,
    /// IdempotentWrite
    IdempotentWrite,
}

const OPERATIONS: [Operation; 11] = [
    Operation::All,
    Operation::Read,
    Operation::Write,
    Operation::Create,
    Operation::Delete,
    Operation::Alter,
    Operation::Describe,
    Operation::ClusterAction,
    Operation::DescribeConfigs,
    Operation::AlterConfigs,
    Operation::IdempotentWrite,
];

impl Operation {
    /// The wire code.
    pub fn code(self) -> i8 {
        match self {
            Operation::All => 2,
            Operation::Read => 3,
            Operation::Write => 4,
            Operation::Create => 5,
            Operation::Delete => 6,
            Operation::Alter => 7,
            Operation::Describe => 8,
            Operation::ClusterAction => 9,
            Operation::DescribeConfigs => 10,
            Operation::AlterConfigs => 11,
            Operation::IdempotentWrite => 12,
        }
    }

    /// The operation of a wire code (0 UNKNOWN and 1 ANY are not operations).
    pub fn from_code(code: i8) -> Option<Self> {
        OPERATIONS.into_iter().find(|o| o.code() == code)
    }

    /// Whether an ALLOW of `self` allows `wanted`.
    fn allows(self, wanted: Operation) -> bool {
        use Operation::*;
        self == All
            || self == wanted
            || (wanted == Describe && matches!(self, Read | Write | Delete | Alter))
            || (wanted == DescribeConfigs && self == AlterConfigs)
    }
}

/// ALLOW or DENY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    /// Deny: wins over any allow.
    Deny,
    /// Allow.
    Allow,
}

impl Permission {
    /// The wire code.
    pub fn code(self) -> i8 {
        match self {
            Permission::Deny => 2,
            Permission::Allow => 3,
        }
    }
}

/// One ACL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclBinding {
    /// What kind of resource.
    pub resource_type: ResourceType,
    /// Its name or prefix (`kafka-cluster` for the cluster).
    pub resource_name: String,
    /// How the name matches.
    pub pattern_type: PatternType,
    /// `User:alice`, or `User:*` for everyone.
    pub principal: String,
    /// The client's address, or `*`.
    pub host: String,
    /// What it allows or denies.
    pub operation: Operation,
    /// Allow or deny.
    pub permission: Permission,
}

impl AclBinding {
    fn covers(&self, resource_type: ResourceType, name: &str) -> bool {
        self.resource_type == resource_type
            && match self.pattern_type {
                PatternType::Literal => self.resource_name == "*" || self.resource_name == name,
                PatternType::Prefixed => name.starts_with(&self.resource_name),
            }
    }

    fn applies_to(&self, principal: &str, host: &str) -> bool {
        (self.principal == principal || self.principal == "User:*")
            && (self.host == "*" || same_host(&self.host, host))
    }
}

/// Whether an ACL's host names the client's address: as written, or as the same IP address
/// written another way (Kafka writes IPv6 addresses in full, `0:0:0:0:0:0:0:1`; `::1` is the
/// same host).
fn same_host(acl: &str, client: &str) -> bool {
    acl == client
        || matches!(
            (acl.parse::<std::net::IpAddr>(), client.parse::<std::net::IpAddr>()),
            (Ok(a), Ok(c)) if a.to_canonical() == c.to_canonical()
        )
}

/// A DescribeAcls or DeleteAcls filter: `None` matches anything.
#[derive(Debug, Clone, Default)]
pub struct AclFilter {
    /// The resource type, or any.
    pub resource_type: Option<ResourceType>,
    /// The exact resource name, or any.
    pub resource_name: Option<String>,
    /// The pattern filter.
    pub pattern: PatternFilter,
    /// The exact principal, or any.
    pub principal: Option<String>,
    /// The exact host, or any.
    pub host: Option<String>,
    /// The exact operation, or any.
    pub operation: Option<Operation>,
    /// The exact permission, or any.
    pub permission: Option<Permission>,
}

/// Kafka's pattern type filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PatternFilter {
    /// Any pattern type, the name compared exactly.
    #[default]
    Any,
    /// Every ACL that would apply to the named resource: literal of that name, the literal
    /// `*`, and prefixes of it.
    Match,
    /// Only this pattern type, the name compared exactly.
    Only(PatternType),
}

impl AclFilter {
    /// Whether `acl` passes the filter.
    pub fn matches(&self, acl: &AclBinding) -> bool {
        let name_ok = match (&self.resource_name, self.pattern) {
            (None, PatternFilter::Only(p)) => acl.pattern_type == p,
            (None, _) => true,
            (Some(name), PatternFilter::Match) => match acl.pattern_type {
                PatternType::Literal => acl.resource_name == *name || acl.resource_name == "*",
                PatternType::Prefixed => name.starts_with(&acl.resource_name),
            },
            (Some(name), PatternFilter::Any) => acl.resource_name == *name,
            (Some(name), PatternFilter::Only(p)) => {
                acl.pattern_type == p && acl.resource_name == *name
            }
        };
        name_ok
            && self.resource_type.is_none_or(|t| t == acl.resource_type)
            && self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && self.operation.is_none_or(|o| o == acl.operation)
            && self.permission.is_none_or(|p| p == acl.permission)
    }
}

/// The stored ACLs and the authorizer's settings.
pub struct Acls {
    path: PathBuf,
    acls: RwLock<Vec<AclBinding>>,
    super_users: Vec<String>,
    allow_if_none: bool,
}

impl Acls {
    /// Reads the ACLs in `meta` (none yet: no ACLs).
    pub fn open(meta: &Path, super_users: Vec<String>, allow_if_none: bool) -> Result<Self> {
        let path = meta.join("acls.json");
        let acls = super::read_json_file(&path, "an ACL file")?;
        Ok(Acls {
            path,
            acls: RwLock::new(acls),
            super_users,
            allow_if_none,
        })
    }

    /// Whether `principal` is a super user.
    pub fn is_super_user(&self, principal: &str) -> bool {
        self.super_users.iter().any(|s| s == principal)
    }

    /// Whether `principal` from `host` may do `operation` on the resource.
    pub fn authorize(
        &self,
        principal: &str,
        host: &str,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if self.is_super_user(principal) {
            return true;
        }
        let acls = self.acls.read();
        let mut named = false;
        let mut allowed = false;
        for acl in acls.iter().filter(|a| a.covers(resource_type, name)) {
            named = true;
            if !acl.applies_to(principal, host) {
                continue;
            }
            match acl.permission {
                Permission::Deny
                    if acl.operation == Operation::All || acl.operation == operation =>
                {
                    return false;
                }
                Permission::Deny => {}
                Permission::Allow => allowed |= acl.operation.allows(operation),
            }
        }
        allowed || (!named && self.allow_if_none)
    }

    /// Whether `principal` may do `operation` on some resource of the type (Kafka's
    /// `authorizeByResourceType`, which lets an idempotent producer with WRITE on any topic
    /// get a producer id): an ALLOW that applies, with no DENY of the same pattern.
    pub fn authorize_any(
        &self,
        principal: &str,
        host: &str,
        operation: Operation,
        resource_type: ResourceType,
    ) -> bool {
        if self.is_super_user(principal) {
            return true;
        }
        let acls = self.acls.read();
        let relevant = |a: &&AclBinding| {
            a.resource_type == resource_type
                && a.applies_to(principal, host)
                && (a.operation == Operation::All || a.operation == operation)
        };
        // As Kafka's authorizeByResourceType: a DENY of `*` cancels every ALLOW; a literal
        // DENY cancels the literal ALLOW of the same name; a prefixed DENY cancels every
        // ALLOW whose name it prefixes.
        let denied = |allow: &AclBinding| {
            acls.iter().filter(relevant).any(|d| {
                d.permission == Permission::Deny
                    && match d.pattern_type {
                        PatternType::Literal => {
                            d.resource_name == "*"
                                || (allow.pattern_type == PatternType::Literal
                                    && allow.resource_name == d.resource_name)
                        }
                        PatternType::Prefixed => allow.resource_name.starts_with(&d.resource_name),
                    }
            })
        };
        let any_acl = acls.iter().any(|a| a.resource_type == resource_type);
        acls.iter()
            .filter(relevant)
            .any(|a| a.permission == Permission::Allow && !denied(a))
            || (!any_acl && self.allow_if_none)
    }

    /// Adds ACLs (an ACL already stored is not added twice) and writes the file.
    pub fn create(&self, new: Vec<AclBinding>) -> Result<()> {
        let mut acls = self.acls.write();
        let mut next = acls.clone();
        for acl in new {
            if !next.contains(&acl) {
                next.push(acl);
            }
        }
        self.store(&mut acls, next)
    }

    /// The ACLs that pass `filter`.
    pub fn describe(&self, filter: &AclFilter) -> Vec<AclBinding> {
        self.acls
            .read()
            .iter()
            .filter(|a| filter.matches(a))
            .cloned()
            .collect()
    }

    /// Removes the ACLs each filter matches and writes the file; what each filter removed.
    pub fn delete(&self, filters: &[AclFilter]) -> Result<Vec<Vec<AclBinding>>> {
        let mut acls = self.acls.write();
        let removed: Vec<Vec<AclBinding>> = filters
            .iter()
            .map(|f| acls.iter().filter(|a| f.matches(a)).cloned().collect())
            .collect();
        let next = acls
            .iter()
            .filter(|a| !filters.iter().any(|f| f.matches(a)))
            .cloned()
            .collect();
        self.store(&mut acls, next)?;
        Ok(removed)
    }

    fn store(&self, acls: &mut Vec<AclBinding>, next: Vec<AclBinding>) -> Result<()> {
        if next != *acls {
            let json = serde_json::to_vec_pretty(&next).expect("ACLs serialize");
            crate::topics::write_private_atomic(&self.path, &json)?;
            *acls = next;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(
        rt: ResourceType,
        name: &str,
        pattern: PatternType,
        principal: &str,
        op: Operation,
        permission: Permission,
    ) -> AclBinding {
        AclBinding {
            resource_type: rt,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission,
        }
    }

    #[test]
    fn a_host_matches_however_its_address_is_written() {
        assert!(same_host("0:0:0:0:0:0:0:1", "::1"));
        assert!(same_host("10.0.0.9", "::ffff:10.0.0.9"));
        assert!(same_host("kafka-client", "kafka-client"));
        assert!(!same_host("10.0.0.9", "10.0.0.19"));
        assert!(!same_host("::2", "::1"));
    }

    #[test]
    fn deny_beats_allow_prefixes_match_and_reads_imply_describe() {
        use Operation::*;
        use PatternType::*;
        use ResourceType::*;
        let dir = tempfile::tempdir().unwrap();
        let acls = Acls::open(dir.path(), vec!["User:root".into()], false).unwrap();
        acls.create(vec![
            acl(
                Topic,
                "orders-",
                Prefixed,
                "User:alice",
                Read,
                Permission::Allow,
            ),
            acl(
                Topic,
                "orders-secret",
                Literal,
                "User:alice",
                All,
                Permission::Deny,
            ),
            acl(Topic, "*", Literal, "User:bob", Write, Permission::Allow),
        ])
        .unwrap();
        assert!(acls.authorize("User:alice", "1.2.3.4", Read, Topic, "orders-eu"));
        assert!(acls.authorize("User:alice", "1.2.3.4", Describe, Topic, "orders-eu"));
        assert!(!acls.authorize("User:alice", "1.2.3.4", Write, Topic, "orders-eu"));
        assert!(!acls.authorize("User:alice", "1.2.3.4", Read, Topic, "orders-secret"));
        assert!(!acls.authorize("User:alice", "1.2.3.4", Read, Topic, "payments"));
        assert!(acls.authorize("User:bob", "1.2.3.4", Write, Topic, "payments"));
        assert!(acls.authorize("User:root", "1.2.3.4", Delete, Topic, "orders-secret"));
        assert!(!acls.authorize("User:carol", "1.2.3.4", Read, Group, "g"));
        assert!(acls.authorize_any("User:bob", "h", Write, Topic));
        assert!(!acls.authorize_any("User:alice", "h", Write, Topic));
        acls.create(vec![
            acl(
                Topic,
                "public",
                Literal,
                "User:dan",
                Write,
                Permission::Allow,
            ),
            acl(Topic, "pub", Literal, "User:dan", Write, Permission::Deny),
        ])
        .unwrap();
        assert!(
            acls.authorize_any("User:dan", "h", Write, Topic),
            "a literal deny of another name"
        );
        acls.create(vec![acl(
            Topic,
            "pub",
            Prefixed,
            "User:dan",
            Write,
            Permission::Deny,
        )])
        .unwrap();
        assert!(
            !acls.authorize_any("User:dan", "h", Write, Topic),
            "a prefixed deny covers it"
        );

        acls.delete(&[AclFilter {
            principal: Some("User:dan".into()),
            ..Default::default()
        }])
        .unwrap();
        let reopened = Acls::open(dir.path(), vec![], true).unwrap();
        assert_eq!(reopened.describe(&AclFilter::default()).len(), 3);
        assert!(
            reopened.authorize("User:carol", "h", Read, Group, "g"),
            "no ACL names it"
        );
        let matching = AclFilter {
            resource_type: Some(Topic),
            resource_name: Some("orders-secret".into()),
            pattern: PatternFilter::Match,
            ..Default::default()
        };
        assert_eq!(reopened.describe(&matching).len(), 3);
        let removed = reopened
            .delete(&[AclFilter {
                principal: Some("User:alice".into()),
                ..Default::default()
            }])
            .unwrap();
        assert_eq!(removed[0].len(), 2);
        assert_eq!(reopened.describe(&AclFilter::default()).len(), 1);
    }
}
