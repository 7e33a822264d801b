//! Scale-out for connectd: workers with the same `[cluster] group_id` share the connectors'
//! tasks through Kafka's group membership, the way Kafka Connect's distributed workers do.
//!
//! The coordination is the group coordinator's (connectd's own broker, Apache Kafka, tansu):
//! it tracks who is alive by heartbeats, picks a leader, and numbers each generation. The
//! members only agree on what the JoinGroup metadata and SyncGroup assignments say:
//! - [`member`]: one worker's membership loop (join, sync, heartbeat), speaking the Kafka
//!   protocol itself because librdkafka does not let a client define its own group protocol.
//!   The protocol type is `connect`, so a group shared with consumers or a Kafka Connect
//!   cluster is refused rather than mixed.
//! - [`assignor`]: the leader's incremental, cooperative assignment: a task moves only after
//!   its old owner has stopped it, and tasks that do not move keep running.

pub mod assignor;
pub mod client;
pub mod member;
mod protocol;
pub mod security;

pub use client::{Connection, is_own_connection};
pub use member::{GroupState, Membership, MembershipConfig, Tasks};
pub use security::ClientSecurity;

/// Errors from group membership.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings cannot work.
    #[error("[cluster]: {0}")]
    Config(String),
    /// A broker could not be reached or the connection broke.
    #[error("{addr}: {source}")]
    Io {
        /// `host:port`.
        addr: String,
        /// The error.
        source: std::io::Error,
    },
    /// A broker answered something that is not the Kafka protocol we expect.
    #[error("{addr}: {what}")]
    Protocol {
        /// `host:port` (or the group, for an assignment).
        addr: String,
        /// What was wrong.
        what: String,
    },
    /// The group coordinator could not be found or moved.
    #[error("group coordinator: {0}")]
    Coordinator(String),
    /// The coordinator refused this member.
    #[error("group: {0}")]
    Group(String),
}
