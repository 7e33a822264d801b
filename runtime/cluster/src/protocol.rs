//! The JSON a member puts in its JoinGroup metadata (the tasks it runs) and the leader in
//! each member's SyncGroup assignment (the tasks it is given, in which generation, among
//! which members): connectd's own group protocol, `connectd-1`.

use std::collections::BTreeSet;

use connectd_records::{ConnectorName, TaskId};
use serde::{Deserialize, Serialize};

/// A member's JoinGroup metadata.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct Metadata {
    /// The member's worker id.
    pub(crate) worker: String,
    /// Tasks it runs: `[connector, task]`.
    pub(crate) owned: Vec<(String, u32)>,
    /// How many times it asked for a rebalance (its connectors changed). Kafka's coordinator
    /// starts a rebalance on any JoinGroup from a member of a stable group; tansu's only when
    /// the metadata changed, which this makes sure of.
    #[serde(default)]
    pub(crate) asked: u64,
    /// The generation whose assignment `owned` comes from (-1: none yet).
    #[serde(default = "no_generation")]
    pub(crate) generation: i32,
}

pub(crate) fn no_generation() -> i32 {
    -1
}

#[cfg(test)]
mod tests {
    use super::Assignment;

    #[test]
    fn an_assignment_for_another_generation_or_membership_is_refused() {
        let a = Assignment {
            generation: 7,
            members: vec!["m1".into(), "m2".into()],
            ..Assignment::default()
        };
        assert!(!a.for_another_view(7, "m2"));
        assert!(a.for_another_view(8, "m2"), "another generation");
        assert!(
            a.for_another_view(7, "m3"),
            "a membership without this member"
        );
        // From a leader that does not say (an older connectd): taken as it is.
        let old: Assignment = serde_json::from_str(r#"{"tasks":[],"leader":"w"}"#).unwrap();
        assert!(!old.for_another_view(7, "m3"));
    }
}

/// One member's SyncGroup assignment, from the leader.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct Assignment {
    /// Tasks to run: `[connector, task]`.
    pub(crate) tasks: Vec<(String, u32)>,
    /// The leader's worker id.
    pub(crate) leader: String,
    /// The generation the leader assigned in (-1: a leader that did not say).
    #[serde(default = "no_generation")]
    pub(crate) generation: i32,
    /// The member ids the leader assigned to in that generation.
    #[serde(default)]
    pub(crate) members: Vec<String>,
}

impl Assignment {
    /// Whether this assignment was made for another view of the group than the member's:
    /// another generation, or members that leave this one out. Kafka's coordinator never
    /// answers so; tansu 0.6's was seen to, under load, answering two members with one
    /// generation and different memberships.
    pub(crate) fn for_another_view(&self, generation: i32, member_id: &str) -> bool {
        self.generation >= 0
            && (self.generation != generation || !self.members.iter().any(|m| m == member_id))
    }
}

pub(crate) fn to_wire(tasks: &BTreeSet<TaskId>) -> Vec<(String, u32)> {
    tasks
        .iter()
        .map(|t| (t.connector.to_string(), t.task))
        .collect()
}

pub(crate) fn from_wire(tasks: Vec<(String, u32)>) -> BTreeSet<TaskId> {
    tasks
        .into_iter()
        .filter_map(|(c, task)| {
            Some(TaskId {
                connector: ConnectorName::new(&c).ok()?,
                task,
            })
        })
        .collect()
}
