//! Consumer groups, classic protocol: the group coordinator state machine and committed
//! offsets.
//!
//! The broker relays client-side assignors: it picks the protocol every member supports
//! (range, roundrobin, cooperative-sticky, ...), hands the leader all members' metadata in
//! JoinGroup, and hands each member the assignment the leader sent in SyncGroup.
//!
//! States follow Kafka's `GroupCoordinator`: Empty → PreparingRebalance → CompletingRebalance →
//! Stable, back to PreparingRebalance when a member joins, leaves or times out.

mod coordinator;
pub mod offsets;

pub use coordinator::{Coordinator, GroupSummary, JoinArgs, MemberSummary};
pub use offsets::{Committed, OffsetStore};
