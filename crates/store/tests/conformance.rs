//! One conformance suite, run on every backend: SQLite always, PostgreSQL when `DATABASE_URL` names it
//! (a visible skip otherwise, a failure under `CI=true`). Each test gets a fresh database file or schema.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use store::{
    CaseFilter, CaseId, CaseRecord, CaseUpdate, Cursor, DayNumber, NewCase, NewEvent, Store, StoreError, UnixTime,
};

fn id(s: &str) -> CaseId {
    CaseId::new(s).unwrap()
}

fn new_case(case: &str, node: &str, kind: &str, state: &str, created_at: i64) -> NewCase {
    NewCase {
        id: id(case),
        node: node.into(),
        kind: kind.into(),
        state: state.into(),
        snapshot: format!("snapshot of {case} at creation").into_bytes(),
        created_at: UnixTime(created_at),
        opened_by: None,
    }
}

fn event(kind: &str, at: i64, bytes: &[u8], reveal_by: Option<i64>) -> NewEvent {
    let mut salt = [0u8; 32];
    for (i, b) in salt.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(7) ^ bytes.first().copied().unwrap_or(0);
    }
    NewEvent { kind: kind.into(), at: UnixTime(at), bytes: bytes.to_vec(), salt, reveal_by: reveal_by.map(DayNumber) }
}

fn update(expected_version: u64, state: &str, events: Vec<NewEvent>, at: i64) -> CaseUpdate {
    CaseUpdate {
        expected_version,
        state: state.into(),
        snapshot: format!("snapshot in {state} after version {expected_version}").into_bytes(),
        events,
        at: UnixTime(at),
    }
}

fn two_events(tag: &str, at: i64) -> Vec<NewEvent> {
    vec![event("a", at, format!("{tag}/a").as_bytes(), None), event("b", at, format!("{tag}/b").as_bytes(), None)]
}

async fn create_and_load(s: Arc<dyn Store>) {
    let c = new_case("case-1", "DE", "requesting", "draft", 1_700_000_000);
    let first = vec![event("created", 1_700_000_000, b"{\"created\":1}", None)];
    let rec = s.create_case(c.clone(), first.clone()).await.unwrap();
    assert_eq!((rec.version, rec.last_seq), (1, 1));
    assert_eq!(rec.created_at, rec.updated_at);
    assert_eq!(s.load_case(&c.id).await.unwrap(), Some(rec.clone()));
    let events = s.events(&c.id).await.unwrap();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (e.seq, e.kind.as_str(), e.bytes.as_slice(), e.salt),
        (1, "created", &b"{\"created\":1}"[..], first[0].salt)
    );
    assert_eq!((e.log_index, e.revealed, e.reveal_by, e.at), (None, false, None, UnixTime(1_700_000_000)));
    assert_eq!(s.load_case(&id("no-such-case")).await.unwrap(), None);
    assert!(s.events(&id("no-such-case")).await.unwrap().is_empty());

    // The same id again: refused, the first case untouched.
    let mut again = c.clone();
    again.snapshot = b"other".to_vec();
    let err = s.create_case(again, vec![event("x", 1, b"x", None)]).await.unwrap_err();
    assert!(matches!(err, StoreError::CaseExists(ref i) if i == &c.id), "{err}");
    assert_eq!(s.load_case(&c.id).await.unwrap(), Some(rec));
    assert_eq!(s.events(&c.id).await.unwrap().len(), 1);

    // Bad input is an error, never a panic, and writes nothing.
    let mut bad = new_case("case-bad", "", "requesting", "draft", 0);
    assert!(matches!(s.create_case(bad.clone(), vec![]).await, Err(StoreError::Invalid(_))));
    bad.node = "DE".into();
    bad.state = "x".repeat(store::MAX_NAME_LEN + 1);
    assert!(matches!(s.create_case(bad.clone(), vec![]).await, Err(StoreError::Invalid(_))));
    bad.state = "draft".into();
    assert!(matches!(s.create_case(bad.clone(), vec![event("", 0, b"", None)]).await, Err(StoreError::Invalid(_))));
    assert_eq!(s.load_case(&bad.id).await.unwrap(), None);

    // A case with no events, odd bytes, a large snapshot, non-ASCII names.
    let mut big = new_case("caso-ñ-✓", "FR", "requested", "reçu", -5);
    big.snapshot = (0..=255u8).cycle().take(1 << 20).collect();
    let rec = s.create_case(big.clone(), vec![]).await.unwrap();
    assert_eq!(rec.last_seq, 0);
    let loaded = s.load_case(&big.id).await.unwrap().unwrap();
    assert_eq!((loaded.snapshot, loaded.state, loaded.created_at), (big.snapshot, big.state, UnixTime(-5)));
}

async fn update_appends_events(s: Arc<dyn Store>) {
    let c = new_case("case-u", "DE", "requested", "received", 100);
    s.create_case(c.clone(), vec![event("received", 100, b"r", None)]).await.unwrap();
    let rec = s.update_case(&c.id, update(1, "admitted", two_events("u1", 200), 200)).await.unwrap();
    assert_eq!((rec.version, rec.last_seq, rec.state.as_str()), (2, 3, "admitted"));
    assert_eq!((rec.created_at, rec.updated_at), (UnixTime(100), UnixTime(200)));
    assert_eq!((rec.node.as_str(), rec.kind.as_str()), ("DE", "requested"));
    assert_eq!(s.load_case(&c.id).await.unwrap(), Some(rec));
    // An update without events still moves the version.
    let rec = s.update_case(&c.id, update(2, "routed", vec![], 300)).await.unwrap();
    assert_eq!((rec.version, rec.last_seq), (3, 3));
    let rec = s.update_case(&c.id, update(3, "held", two_events("u3", 400), 400)).await.unwrap();
    assert_eq!((rec.version, rec.last_seq), (4, 5));
    let events = s.events(&c.id).await.unwrap();
    let got: Vec<(u64, &[u8])> = events.iter().map(|e| (e.seq, e.bytes.as_slice())).collect();
    let want: Vec<(u64, &[u8])> = vec![(1, b"r"), (2, b"u1/a"), (3, b"u1/b"), (4, b"u3/a"), (5, b"u3/b")];
    assert_eq!(got, want);
    assert!(events.iter().all(|e| e.case_id == c.id));

    // Many events in one write, in order, each whole.
    let many = new_case("case-many", "DE", "requested", "received", 100);
    let first: Vec<NewEvent> = (0..150).map(|k| event("e", k, format!("first {k}").as_bytes(), Some(k))).collect();
    s.create_case(many.clone(), first).await.unwrap();
    let more: Vec<NewEvent> = (0..77).map(|k| event("f", k, format!("more {k}").as_bytes(), None)).collect();
    let rec = s.update_case(&many.id, update(1, "more", more, 500)).await.unwrap();
    assert_eq!((rec.version, rec.last_seq), (2, 227));
    let events = s.events(&many.id).await.unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=227).collect::<Vec<_>>());
    assert_eq!(events[149].bytes, b"first 149");
    assert_eq!(events[149].reveal_by, Some(DayNumber(149)));
    assert_eq!(events[150].bytes, b"more 0");
    assert_eq!(events[226].bytes, b"more 76");
    assert!(matches!(
        s.create_case(
            new_case("too-many", "DE", "requested", "r", 0),
            vec![event("e", 0, b"", None); store::MAX_EVENTS_PER_WRITE + 1]
        )
        .await,
        Err(StoreError::Invalid(_))
    ));
}

async fn version_conflict_changes_nothing(s: Arc<dyn Store>) {
    let c = new_case("case-v", "DE", "requested", "received", 1);
    s.create_case(c.clone(), vec![]).await.unwrap();
    let won = s.update_case(&c.id, update(1, "admitted", two_events("w", 2), 2)).await.unwrap();
    for stale in [0, 1, 3, 99] {
        let err = s.update_case(&c.id, update(stale, "refused", two_events("l", 3), 3)).await.unwrap_err();
        match err {
            StoreError::VersionConflict { id: ref i, expected, actual } => {
                assert_eq!((i, expected, actual), (&c.id, stale, 2));
                assert!(err.to_string().contains("version conflict"), "{err}");
            }
            other => panic!("expected a version conflict, got {other}"),
        }
    }
    assert_eq!(s.load_case(&c.id).await.unwrap(), Some(won));
    assert_eq!(s.events(&c.id).await.unwrap().len(), 2);
    let err = s.update_case(&id("missing"), update(1, "x", vec![], 1)).await.unwrap_err();
    assert!(matches!(err, StoreError::CaseNotFound(_)), "{err}");
    assert!(matches!(s.update_case(&c.id, update(u64::MAX, "x", vec![], 1)).await, Err(StoreError::Invalid(_))));
}

/// Two judges act at once on the same version: exactly one wins, the other changes nothing.
async fn racing_updates_one_wins(s: Arc<dyn Store>) {
    let c = new_case("case-race", "DE", "requested", "objection", 1);
    s.create_case(c.clone(), vec![]).await.unwrap();
    for round in 1..=20u64 {
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let tasks: Vec<_> = ["upheld", "dismissed"]
            .into_iter()
            .map(|decision| {
                let (s, barrier, id) = (s.clone(), barrier.clone(), c.id.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    s.update_case(&id, update(round, decision, two_events(decision, 1), 1)).await
                })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let wins: Vec<&CaseRecord> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(wins.len(), 1, "round {round}: {results:?}");
        let lost = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(
            matches!(lost, StoreError::VersionConflict { expected, actual, .. } if *expected == round && *actual == round + 1),
            "{lost}"
        );
        let stored = s.load_case(&c.id).await.unwrap().unwrap();
        assert_eq!((stored.version, stored.state.as_str()), (round + 1, wins[0].state.as_str()));
        assert_eq!(stored.last_seq, 2 * round);
    }
    // The events are those of the winners only, without gaps.
    let events = s.events(&c.id).await.unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=40).collect::<Vec<_>>());
}

const TASKS: u64 = 8;
const UPDATES: u64 = 50;

/// Many writers at once, on their own cases and on one shared case (retrying on conflict).
async fn concurrent_writers(s: Arc<dyn Store>) {
    for t in 0..TASKS {
        s.create_case(new_case(&format!("own-{t}"), "DE", "requested", "s0", 1), vec![]).await.unwrap();
    }
    s.create_case(new_case("shared", "DE", "requested", "s0", 1), vec![]).await.unwrap();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let s = s.clone();
            tokio::spawn(async move {
                let own = id(&format!("own-{t}"));
                for k in 1..=UPDATES {
                    let rec =
                        s.update_case(&own, update(k, &format!("s{k}"), two_events(&format!("{t}/{k}"), 2), 2)).await;
                    assert_eq!(rec.unwrap().version, k + 1);
                }
                let shared = id("shared");
                let mut conflicts = 0u64;
                for k in 1..=UPDATES / 2 {
                    loop {
                        let current = s.load_case(&shared).await.unwrap().unwrap();
                        let u = update(current.version, "s", two_events(&format!("shared {t}/{k}"), 3), 3);
                        match s.update_case(&shared, u).await {
                            Ok(_) => break,
                            Err(StoreError::VersionConflict { .. }) => conflicts += 1,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for t in 0..TASKS {
        let own = id(&format!("own-{t}"));
        let rec = s.load_case(&own).await.unwrap().unwrap();
        assert_eq!((rec.version, rec.last_seq), (UPDATES + 1, 2 * UPDATES));
        let events = s.events(&own).await.unwrap();
        assert_eq!(events.len() as u64, 2 * UPDATES);
        assert_eq!(events[0].bytes, format!("{t}/1/a").into_bytes());
        assert_eq!(events.last().unwrap().bytes, format!("{t}/{UPDATES}/b").into_bytes());
    }
    let shared = s.load_case(&id("shared")).await.unwrap().unwrap();
    let total = TASKS * (UPDATES / 2);
    assert_eq!((shared.version, shared.last_seq), (total + 1, 2 * total));
    let events = s.events(&id("shared")).await.unwrap();
    let distinct: BTreeSet<&[u8]> = events.iter().map(|e| e.bytes.as_slice()).collect();
    assert_eq!(distinct.len() as u64, 2 * total, "every winning update's events, each once");
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=2 * total).collect::<Vec<_>>());
    // Each update's two events are adjacent: nothing interleaves inside an update.
    for pair in events.chunks(2) {
        let a = String::from_utf8(pair[0].bytes.clone()).unwrap();
        let b = String::from_utf8(pair[1].bytes.clone()).unwrap();
        assert_eq!(a.strip_suffix("/a"), b.strip_suffix("/b"));
    }
}

async fn list_with_pagination(s: Arc<dyn Store>) {
    let mut all = Vec::new();
    for i in 0..25i64 {
        let node = if i % 2 == 0 { "DE" } else { "FR" };
        let kind = ["requesting", "requested", "provider"][(i % 3) as usize];
        let state = if i % 5 == 0 { "closed" } else { "open" };
        // Several cases share a creation time: the id breaks the tie. Some were opened
        // here by a person (one of two), the rest arrived from elsewhere.
        let mut c = new_case(&format!("L{:02}", 24 - i), node, kind, state, i / 4);
        c.opened_by = [Some("alice"), Some("bob"), None][(i % 3) as usize].map(String::from);
        let rec = s.create_case(c.clone(), vec![]).await.unwrap();
        assert_eq!(rec.opened_by, c.opened_by);
        // Who opened a case stays through its updates.
        let rec = s.update_case(&rec.id, update(1, state, vec![], i / 4)).await.unwrap();
        assert_eq!(rec.opened_by, c.opened_by);
        assert_eq!(s.load_case(&rec.id).await.unwrap().as_ref(), Some(&rec));
        all.push(rec);
    }
    all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let filters = [
        CaseFilter::default(),
        CaseFilter { node: Some("DE".into()), ..CaseFilter::default() },
        CaseFilter { kind: Some("provider".into()), ..CaseFilter::default() },
        CaseFilter { node: Some("FR".into()), state: Some("open".into()), ..CaseFilter::default() },
        CaseFilter { node: Some("XX".into()), ..CaseFilter::default() },
        CaseFilter { opened_by: Some("alice".into()), ..CaseFilter::default() },
        CaseFilter { node: Some("DE".into()), opened_by: Some("bob".into()), ..CaseFilter::default() },
        CaseFilter { opened_by: Some("carol".into()), ..CaseFilter::default() },
    ];
    for filter in &filters {
        let want: Vec<&CaseRecord> = all
            .iter()
            .filter(|c| filter.node.as_ref().is_none_or(|v| v == &c.node))
            .filter(|c| filter.kind.as_ref().is_none_or(|v| v == &c.kind))
            .filter(|c| filter.state.as_ref().is_none_or(|v| v == &c.state))
            .filter(|c| filter.opened_by.is_none() || filter.opened_by == c.opened_by)
            .collect();
        for limit in [1, 4, 7, 25, 1000] {
            let mut got = Vec::new();
            let mut cursor: Option<Cursor> = None;
            loop {
                let page = s.list_cases(filter, cursor.as_ref(), limit).await.unwrap();
                assert!(page.items.len() <= limit as usize);
                got.extend(page.items);
                match page.next {
                    // The cursor survives a round trip through text (a URL parameter).
                    Some(next) => cursor = Some(Cursor::parse(next.as_str()).unwrap()),
                    None => break,
                }
            }
            assert_eq!(got.iter().collect::<Vec<_>>(), want, "{filter:?} limit {limit}");
        }
    }
    for bad in ["", "garbage", "c1.zz", "c1.00", "c2.0000000000000000616263"] {
        let err = Cursor::parse(bad).unwrap_err();
        assert!(matches!(err, StoreError::BadCursor(_)), "{bad:?}: {err}");
        assert!(err.to_string().starts_with("bad cursor"));
    }
    for limit in [0, store::MAX_PAGE + 1] {
        assert!(matches!(s.list_cases(&CaseFilter::default(), None, limit).await, Err(StoreError::Invalid(_))));
    }
    let bad_filter = CaseFilter { state: Some(String::new()), ..CaseFilter::default() };
    assert!(matches!(s.list_cases(&bad_filter, None, 10).await, Err(StoreError::Invalid(_))));
    let bad_filter = CaseFilter { opened_by: Some("a\nb".into()), ..CaseFilter::default() };
    assert!(matches!(s.list_cases(&bad_filter, None, 10).await, Err(StoreError::Invalid(_))));
    let mut bad_case = new_case("L-bad", "DE", "requesting", "open", 30);
    bad_case.opened_by = Some(String::new());
    assert!(matches!(s.create_case(bad_case, vec![]).await, Err(StoreError::Invalid(_))));
}

async fn reveal_and_log_bookkeeping(s: Arc<dyn Store>) {
    let a = new_case("rev-a", "DE", "requested", "confidential", 1);
    let b = new_case("rev-b", "DE", "requested", "confidential", 1);
    s.create_case(a.clone(), vec![event("order", 1, b"a1", Some(100)), event("note", 1, b"a2", None)]).await.unwrap();
    s.create_case(b.clone(), vec![event("order", 1, b"b1", Some(90))]).await.unwrap();
    s.update_case(&a.id, update(1, "extended", vec![event("extension", 2, b"a3", Some(120))], 2)).await.unwrap();

    let due = |on: i64| {
        let s = s.clone();
        async move {
            s.events_due_for_reveal(DayNumber(on))
                .await
                .unwrap()
                .into_iter()
                .map(|e| (e.case_id.to_string(), e.seq))
                .collect::<Vec<_>>()
        }
    };
    assert!(due(89).await.is_empty());
    assert_eq!(due(90).await, [("rev-b".to_string(), 1)]);
    assert_eq!(due(100).await, [("rev-b".to_string(), 1), ("rev-a".to_string(), 1)]);
    assert_eq!(due(1000).await, [("rev-b".to_string(), 1), ("rev-a".to_string(), 1), ("rev-a".to_string(), 3)]);
    s.mark_revealed(&b.id, 1).await.unwrap();
    s.mark_revealed(&b.id, 1).await.unwrap(); // idempotent
    assert_eq!(due(100).await, [("rev-a".to_string(), 1)]);
    assert!(s.events(&b.id).await.unwrap()[0].revealed);
    let err = s.mark_revealed(&b.id, 2).await.unwrap_err();
    assert!(matches!(err, StoreError::EventNotFound { seq: 2, .. }), "{err}");
    assert!(matches!(s.mark_revealed(&id("nope"), 1).await, Err(StoreError::EventNotFound { .. })));

    // Log indexes: set once; the same again is fine; another is refused.
    let unlogged = s.events_not_logged(10).await.unwrap();
    assert_eq!(unlogged.len(), 4);
    assert_eq!(s.events_not_logged(2).await.unwrap().len(), 2);
    s.set_log_index(&a.id, 1, 7).await.unwrap();
    s.set_log_index(&a.id, 1, 7).await.unwrap();
    let err = s.set_log_index(&a.id, 1, 8).await.unwrap_err();
    assert!(matches!(err, StoreError::LogIndexConflict { existing: 7, requested: 8, seq: 1, .. }), "{err}");
    assert!(matches!(s.set_log_index(&a.id, 9, 1).await, Err(StoreError::EventNotFound { seq: 9, .. })));
    assert!(matches!(s.set_log_index(&a.id, 2, u64::MAX).await, Err(StoreError::Invalid(_))));
    s.set_log_index(&b.id, 1, 0).await.unwrap();
    // Several at once: all or none.
    let err = s.set_log_indices(&a.id, &[(2, 20), (1, 8)]).await.unwrap_err();
    assert!(matches!(err, StoreError::LogIndexConflict { existing: 7, requested: 8, seq: 1, .. }), "{err}");
    let err = s.set_log_indices(&a.id, &[(2, 20), (9, 21)]).await.unwrap_err();
    assert!(matches!(err, StoreError::EventNotFound { seq: 9, .. }), "{err}");
    assert!(matches!(s.set_log_indices(&a.id, &[(2, 20), (3, u64::MAX)]).await, Err(StoreError::Invalid(_))));
    s.set_log_indices(&a.id, &[]).await.unwrap();
    let events = s.events(&a.id).await.unwrap();
    assert_eq!(events.iter().map(|e| e.log_index).collect::<Vec<_>>(), [Some(7), None, None]);
    let unlogged: Vec<(String, u64)> =
        s.events_not_logged(10).await.unwrap().into_iter().map(|e| (e.case_id.to_string(), e.seq)).collect();
    assert_eq!(unlogged, [("rev-a".to_string(), 2), ("rev-a".to_string(), 3)]);
    s.set_log_indices(&a.id, &[(2, 20), (3, 21)]).await.unwrap();
    s.set_log_indices(&a.id, &[(3, 21), (2, 20)]).await.unwrap(); // the same again: a no-op
    let logged: Vec<_> = s.events(&a.id).await.unwrap().iter().map(|e| e.log_index).collect();
    assert_eq!(logged, [Some(7), Some(20), Some(21)]);
    assert!(s.events_not_logged(10).await.unwrap().is_empty());
    // Revealing and logging leave what the event says untouched.
    assert_eq!(events[0].bytes, b"a1");
    assert_eq!(events[0].reveal_by, Some(DayNumber(100)));
}

async fn accesses_are_recorded_in_order(s: Arc<dyn Store>) {
    let a = new_case("acc-a", "DE", "requested", "open", 1);
    s.create_case(a.clone(), vec![event("created", 1, b"e1", None)]).await.unwrap();
    let access = |what: &str, log_index: u64| store::NewAccess {
        case_id: a.id.clone(),
        at: UnixTime(10 + log_index as i64),
        role: "judge".into(),
        what: what.into(),
        bytes: format!("{{\"what\":\"{what}\"}}").into_bytes(),
        salt: [log_index as u8; 32],
        log_index,
    };
    assert!(s.accesses(&a.id).await.unwrap().is_empty());
    s.record_accesses(vec![access("read", 5), access("events", 6)]).await.unwrap();
    s.record_accesses(vec![]).await.unwrap();
    s.record_accesses(vec![access("evidence", 9)]).await.unwrap();
    let got = s.accesses(&a.id).await.unwrap();
    assert_eq!(got, vec![access("read", 5), access("events", 6), access("evidence", 9)]);
    // An unknown case records nothing, not even the accesses beside it.
    let mut other = access("read", 11);
    other.case_id = id("acc-none");
    let err = s.record_accesses(vec![access("page", 10), other]).await.unwrap_err();
    assert!(matches!(err, StoreError::CaseNotFound(_)), "{err}");
    assert_eq!(s.accesses(&a.id).await.unwrap().len(), 3);
    assert!(s.accesses(&id("acc-none")).await.unwrap().is_empty());
    // One log index, one access of a case; another case (another node's, in a shared
    // database) may hold the same index of its own node's log.
    assert!(s.record_accesses(vec![access("read", 5)]).await.is_err());
    assert_eq!(s.accesses(&a.id).await.unwrap().len(), 3);
    let b = new_case("acc-b", "FR", "requested", "open", 1);
    s.create_case(b.clone(), vec![event("created", 1, b"e1", None)]).await.unwrap();
    let mut elsewhere = access("read", 5);
    elsewhere.case_id = b.id.clone();
    s.record_accesses(vec![elsewhere]).await.unwrap();
    assert_eq!(s.accesses(&b.id).await.unwrap().len(), 1);
}

/// Declares one test per scenario for a backend.
macro_rules! conformance {
    ($backend:ident: $($scenario:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    let Some(h) = crate::common::$backend().await else { return };
                    super::$scenario(h.store.clone()).await;
                    if let Some(sqlite) = &h.sqlite {
                        sqlite.check_consistency().await.unwrap();
                    }
                    if let Some(postgres) = &h.postgres {
                        postgres.check_consistency().await.unwrap();
                    }
                }
            )*
        }
    };
}

macro_rules! both {
    ($($scenario:ident),* $(,)?) => {
        conformance!(sqlite: $($scenario),*);
        conformance!(postgres: $($scenario),*);
        conformance!(cached_sqlite: $($scenario),*);
        conformance!(cached_postgres: $($scenario),*);
    };
}

both!(
    create_and_load,
    update_appends_events,
    version_conflict_changes_nothing,
    racing_updates_one_wins,
    concurrent_writers,
    list_with_pagination,
    reveal_and_log_bookkeeping,
    accesses_are_recorded_in_order,
);
