//! The group coordinator's state machine, driven directly: join, sync, rebalance when a member
//! comes or goes, session expiry, and static members (KIP-345). Real clients exercise the same
//! paths over the wire in the end-to-end tests; these pin each transition down on its own.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError as E;

use super::*;

fn coordinator(dir: &tempfile::TempDir) -> Arc<Coordinator> {
    Coordinator::new(OffsetStore::open(dir.path()).unwrap(), Duration::ZERO)
}

fn args(member_id: &str, instance: Option<&str>, session_ms: i32) -> JoinArgs {
    JoinArgs {
        group: "g".into(),
        member_id: member_id.into(),
        instance_id: instance.map(str::to_string),
        client_id: "client".into(),
        client_host: "127.0.0.1".into(),
        session_timeout_ms: session_ms,
        rebalance_timeout_ms: session_ms,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
        require_known_member_id: false,
    }
}

fn state(c: &Coordinator) -> &'static str {
    c.describe("g").state
}

/// One member joins and syncs: generation 1, it leads, and it gets its own assignment back.
async fn stable_single(c: &Arc<Coordinator>, session_ms: i32) -> JoinResult {
    let joined = c.join(args("", None, session_ms)).await;
    assert_eq!(joined.error, 0);
    let (error, assignment) = c
        .sync(
            "g",
            joined.generation,
            &joined.member_id,
            vec![(joined.member_id.clone(), Bytes::from_static(b"all"))],
        )
        .await;
    assert_eq!((error, &assignment[..]), (0, &b"all"[..]));
    joined
}

#[tokio::test]
async fn a_lone_member_joins_leads_and_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(&dir);
    let joined = stable_single(&c, 10_000).await;
    assert_eq!(joined.generation, 1);
    assert_eq!(joined.leader, joined.member_id);
    assert_eq!(joined.protocol.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1, "the leader sees every member");
    assert_eq!(state(&c), "Stable");
    assert_eq!(c.heartbeat("g", 1, &joined.member_id), 0);
    assert_eq!(
        c.heartbeat("g", 0, &joined.member_id),
        E::IllegalGeneration.code()
    );
    assert_eq!(c.heartbeat("g", 1, "stranger"), E::UnknownMemberId.code());
}

#[tokio::test]
async fn a_new_member_must_come_back_with_its_id_kip_394() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(&dir);
    let mut first = args("", None, 10_000);
    first.require_known_member_id = true;
    let refused = c.join(first.clone()).await;
    assert_eq!(refused.error, E::MemberIdRequired.code());
    assert!(!refused.member_id.is_empty());
    first.member_id = refused.member_id.clone();
    let joined = c.join(first).await;
    assert_eq!((joined.error, joined.generation), (0, 1));
    assert_eq!(joined.member_id, refused.member_id);
    let mut made_up = args("made-up", None, 10_000);
    made_up.require_known_member_id = true;
    assert_eq!(c.join(made_up).await.error, E::UnknownMemberId.code());
}

#[tokio::test]
async fn a_second_member_rebalances_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(&dir);
    let a = stable_single(&c, 10_000).await;
    // B's join waits for the rebalance; A learns of it from its heartbeat and rejoins.
    let b = tokio::spawn({
        let c = c.clone();
        async move { c.join(args("", None, 10_000)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(state(&c), "PreparingRebalance");
    assert_eq!(
        c.heartbeat("g", a.generation, &a.member_id),
        E::RebalanceInProgress.code()
    );
    let a2 = c.join(args(&a.member_id, None, 10_000)).await;
    let b = b.await.unwrap();
    assert_eq!((a2.error, b.error), (0, 0));
    assert_eq!((a2.generation, b.generation), (2, 2));
    assert_eq!(a2.leader, a.member_id, "the leader stays the leader");
    assert_eq!(a2.members.len(), 2);
    assert!(b.members.is_empty(), "followers get no member list");
    assert_eq!(state(&c), "CompletingRebalance");
    // The follower's sync waits for the leader's assignments.
    let b_sync = tokio::spawn({
        let (c, id) = (c.clone(), b.member_id.clone());
        async move { c.sync("g", 2, &id, Vec::new()).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let plan = vec![
        (a.member_id.clone(), Bytes::from_static(b"p0")),
        (b.member_id.clone(), Bytes::from_static(b"p1")),
    ];
    assert_eq!(c.sync("g", 2, &a.member_id, plan).await.1, &b"p0"[..]);
    assert_eq!(b_sync.await.unwrap(), (0, Bytes::from_static(b"p1")));
    assert_eq!(state(&c), "Stable");
    // Leaving rebalances again; the last one out empties the group.
    assert_eq!(
        c.leave("g", vec![(b.member_id.clone(), None)]),
        (0, vec![0])
    );
    assert_eq!(state(&c), "PreparingRebalance");
    assert_eq!(
        c.heartbeat("g", 2, &a.member_id),
        E::RebalanceInProgress.code(),
        "A is told to rejoin"
    );
    assert_eq!(
        c.leave("g", vec![(a.member_id.clone(), None)]),
        (0, vec![0])
    );
    assert_eq!(state(&c), "Empty");
}

#[tokio::test]
async fn a_member_whose_session_expires_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(&dir);
    let a = stable_single(&c, 10_000).await;
    let b = tokio::spawn({
        let c = c.clone();
        async move { c.join(args("", None, 1_000)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let a2 = c.join(args(&a.member_id, None, 10_000)).await;
    let b = b.await.unwrap();
    assert_eq!((a2.generation, b.generation), (2, 2));
    // Only A keeps heartbeating; B's 1 s session runs out, and A is told to rejoin.
    let mut told = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let code = c.heartbeat("g", a2.generation, &a.member_id);
        if code == E::RebalanceInProgress.code() {
            told = true;
            break;
        }
    }
    assert!(told, "A was never told of the rebalance");
    assert_eq!(
        c.heartbeat("g", 2, &b.member_id),
        E::UnknownMemberId.code(),
        "B is gone"
    );
    let a3 = c.join(args(&a.member_id, None, 10_000)).await;
    assert_eq!((a3.error, a3.generation, a3.members.len()), (0, 3, 1));
}

#[tokio::test]
async fn a_static_member_returns_to_its_assignment_without_a_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(&dir);
    let leader = stable_single(&c, 10_000).await;
    let s = tokio::spawn({
        let c = c.clone();
        async move { c.join(args("", Some("worker-1"), 10_000)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let l2 = c.join(args(&leader.member_id, None, 10_000)).await;
    let s = s.await.unwrap();
    let plan = vec![
        (leader.member_id.clone(), Bytes::from_static(b"p0")),
        (s.member_id.clone(), Bytes::from_static(b"p1")),
    ];
    let s_sync = tokio::spawn({
        let (c, id) = (c.clone(), s.member_id.clone());
        async move { c.sync("g", 2, &id, Vec::new()).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.sync("g", l2.generation, &leader.member_id, plan).await;
    assert_eq!(s_sync.await.unwrap().1, &b"p1"[..]);
    // The static member restarts: a new member id, the same generation and assignment.
    let back = c.join(args("", Some("worker-1"), 10_000)).await;
    assert_eq!((back.error, back.generation), (0, 2));
    assert_ne!(back.member_id, s.member_id);
    assert_eq!(state(&c), "Stable", "no rebalance");
    assert_eq!(
        c.sync("g", 2, &back.member_id, Vec::new()).await,
        (0, Bytes::from_static(b"p1"))
    );
    // Its old id is fenced.
    assert_eq!(c.heartbeat("g", 2, &s.member_id), E::UnknownMemberId.code());
    let old = c.join(args(&s.member_id, Some("worker-1"), 10_000)).await;
    assert_eq!(old.error, E::UnknownMemberId.code());
}
