//! The leader's assignment: incremental and cooperative, as Kafka Connect's (KIP-415) but
//! with no scheduled delay.
//!
//! Each member says in its JoinGroup metadata which tasks it runs. The leader:
//! - gives each member a quota, `⌊tasks / members⌋` or one more (members that already run
//!   more get the larger quotas, so fewer tasks move);
//! - lets each member keep what it runs, up to its quota; the rest is *revoked*: left out of
//!   its assignment and given to no one in this generation, because it still runs there;
//! - gives the tasks nobody runs (new ones, or those of a member that left or died) to the
//!   members below their quota, least loaded first.
//!
//! A member that had tasks revoked stops them and joins again at once; in that next
//! generation they are nobody's and go to the members below quota. A task therefore never
//! runs on two members at once, and tasks that do not move keep running throughout.

use std::collections::{BTreeMap, BTreeSet};

use connectd_records::TaskId;

/// One member, as the leader sees it in JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberTasks {
    /// Its member id (from the coordinator).
    pub member_id: String,
    /// The tasks it runs now.
    pub owned: BTreeSet<TaskId>,
}

/// Every member's tasks for this generation, by member id (every member has an entry).
pub fn assign(
    members: &[MemberTasks],
    wanted: &BTreeSet<TaskId>,
) -> BTreeMap<String, BTreeSet<TaskId>> {
    let mut members: Vec<&MemberTasks> = members.iter().collect();
    members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
    // What each member may keep: tasks still wanted, each claimed by one member only.
    let mut claimed = BTreeSet::new();
    let mut keep: Vec<Vec<TaskId>> = members
        .iter()
        .map(|m| {
            m.owned
                .iter()
                .filter(|t| wanted.contains(*t) && claimed.insert((*t).clone()))
                .cloned()
                .collect()
        })
        .collect();
    let mut out: BTreeMap<String, BTreeSet<TaskId>> = members
        .iter()
        .map(|m| (m.member_id.clone(), BTreeSet::new()))
        .collect();
    if members.is_empty() {
        return out;
    }
    let base = wanted.len() / members.len();
    let mut larger = wanted.len() % members.len();
    // Larger quotas to the members that keep the most (stable order among equals).
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(keep[i].len()));
    let mut quota = vec![base; members.len()];
    for &i in &order {
        if larger == 0 {
            break;
        }
        quota[i] += 1;
        larger -= 1;
    }
    for (i, m) in members.iter().enumerate() {
        // Over quota: keep the first `quota` in task order, revoke the rest.
        keep[i].truncate(quota[i]);
        out.get_mut(&m.member_id)
            .expect("every member has an entry")
            .extend(keep[i].iter().cloned());
    }
    // Tasks nobody runs: to the least loaded member below its quota.
    for task in wanted.iter().filter(|t| !claimed.contains(*t)) {
        let Some(i) = (0..members.len())
            .filter(|&i| out[&members[i].member_id].len() < quota[i])
            .min_by_key(|&i| out[&members[i].member_id].len())
        else {
            break;
        };
        out.get_mut(&members[i].member_id)
            .expect("every member has an entry")
            .insert(task.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use connectd_records::ConnectorName;

    fn task(c: &str, t: u32) -> TaskId {
        TaskId {
            connector: ConnectorName::new(c).unwrap(),
            task: t,
        }
    }

    fn tasks(spec: &[(&str, u32)]) -> BTreeSet<TaskId> {
        spec.iter().map(|(c, t)| task(c, *t)).collect()
    }

    fn member(id: &str, owned: BTreeSet<TaskId>) -> MemberTasks {
        MemberTasks {
            member_id: id.into(),
            owned,
        }
    }

    fn six() -> BTreeSet<TaskId> {
        tasks(&[("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1), ("b", 2)])
    }

    fn counts(out: &BTreeMap<String, BTreeSet<TaskId>>) -> Vec<usize> {
        out.values().map(|s| s.len()).collect()
    }

    #[test]
    fn a_fresh_group_spreads_tasks_evenly_and_each_once() {
        let members = [
            member("m1", BTreeSet::new()),
            member("m2", BTreeSet::new()),
            member("m3", BTreeSet::new()),
        ];
        let out = assign(&members, &six());
        assert_eq!(counts(&out), [2, 2, 2]);
        let all: BTreeSet<TaskId> = out.values().flatten().cloned().collect();
        assert_eq!(all, six());
    }

    #[test]
    fn a_dead_members_tasks_go_to_the_survivors_and_nothing_else_moves() {
        let m1 = tasks(&[("a", 0), ("b", 0)]);
        let m2 = tasks(&[("a", 1), ("b", 1)]);
        // m3 (a-2, b-2) died: it is not in the group any more.
        let out = assign(
            &[member("m1", m1.clone()), member("m2", m2.clone())],
            &six(),
        );
        assert_eq!(counts(&out), [3, 3]);
        assert!(out["m1"].is_superset(&m1) && out["m2"].is_superset(&m2));
        let all: BTreeSet<TaskId> = out.values().flatten().cloned().collect();
        assert_eq!(all, six());
    }

    #[test]
    fn a_returning_member_gets_its_share_in_two_rounds_with_no_task_on_two_members() {
        let m1 = tasks(&[("a", 0), ("a", 2), ("b", 0)]);
        let m2 = tasks(&[("a", 1), ("b", 1), ("b", 2)]);
        let round1 = assign(
            &[
                member("m1", m1.clone()),
                member("m2", m2.clone()),
                member("m3", BTreeSet::new()),
            ],
            &six(),
        );
        // Round 1: each keeps two, revokes one; m3 gets nothing yet (both still run theirs).
        assert_eq!(counts(&round1), [2, 2, 0]);
        assert!(round1["m1"].is_subset(&m1) && round1["m2"].is_subset(&m2));
        // Round 2: the revoked tasks stopped and are nobody's; m3 gets them.
        let round2 = assign(
            &[
                member("m1", round1["m1"].clone()),
                member("m2", round1["m2"].clone()),
                member("m3", BTreeSet::new()),
            ],
            &six(),
        );
        assert_eq!(counts(&round2), [2, 2, 2]);
        assert_eq!(round2["m1"], round1["m1"]);
        assert_eq!(round2["m2"], round1["m2"]);
        let all: BTreeSet<TaskId> = round2.values().flatten().cloned().collect();
        assert_eq!(all, six());
    }

    #[test]
    fn removed_tasks_are_revoked_and_a_task_claimed_twice_stays_with_one() {
        let both = tasks(&[("a", 0)]);
        let out = assign(
            &[
                member("m1", both.clone()),
                member("m2", both.clone()),
                member("m3", tasks(&[("gone", 0)])),
            ],
            &tasks(&[("a", 0), ("a", 1), ("a", 2)]),
        );
        let all: Vec<TaskId> = out.values().flatten().cloned().collect();
        assert_eq!(all.len(), 3, "{out:?}");
        assert_eq!(out["m1"], both);
        assert!(!out["m2"].contains(&task("a", 0)));
        assert!(!out["m3"].contains(&task("gone", 0)));
    }

    #[test]
    fn more_members_than_tasks_leaves_some_idle() {
        let out = assign(
            &[member("m1", BTreeSet::new()), member("m2", BTreeSet::new())],
            &tasks(&[("a", 0)]),
        );
        assert_eq!(out.values().map(|s| s.len()).sum::<usize>(), 1);
        assert!(assign(&[], &six()).is_empty());
    }
}
