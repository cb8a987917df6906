//! Leases with an injected clock: claims, heartbeats, expiry and takeover, fencing tokens
//! that grow on every takeover, and a stalled holder whose writes are refused.

use std::time::Duration;

use squadron_core::lease::{
    Claim, DaemonId, FencingToken, InvalidLeaseTerms, Lease, LeaseLost, LeaseSubject, LeaseTerms,
};
use squadron_core::{RunId, SquadId, Timestamp};

/// A clock the test moves by hand.
struct ManualClock(Timestamp);

impl ManualClock {
    fn start() -> ManualClock {
        ManualClock(Timestamp::from_millis(1_700_000_000_000))
    }

    fn now(&self) -> Timestamp {
        self.0
    }

    fn advance(&mut self, by: Duration) {
        self.0 = self.0 + by;
    }
}

fn terms() -> LeaseTerms {
    LeaseTerms::new(Duration::from_secs(30), Duration::from_secs(10)).expect("valid terms")
}

fn squad() -> LeaseSubject {
    LeaseSubject::Squad(SquadId::from("s1"))
}

fn daemon(name: &str) -> DaemonId {
    DaemonId::new(name)
}

/// What `daemon` holds after its claim; panics when another daemon holds the subject.
fn granted(claim: Claim) -> Lease {
    match claim {
        Claim::Granted { lease, .. } | Claim::Renewed(lease) => lease,
        Claim::Held(lease) => panic!("expected the claim to hold, but {} does", lease.holder),
    }
}

#[test]
fn a_first_claim_gets_the_first_token_and_others_wait_until_it_lapses() {
    let mut clock = ManualClock::start();
    let a = granted(Lease::claim(
        None,
        &squad(),
        &daemon("a"),
        None,
        clock.now(),
        terms(),
    ));
    assert_eq!(a.token, FencingToken::FIRST);
    assert_eq!(a.holder, daemon("a"));
    assert_eq!(a.expires_at, clock.now() + Duration::from_secs(30));

    clock.advance(Duration::from_secs(29));
    assert_eq!(
        Lease::claim(Some(&a), &squad(), &daemon("b"), None, clock.now(), terms()),
        Claim::Held(a.clone()),
        "a live lease is left to its holder"
    );
    clock.advance(Duration::from_secs(1));
    let b = Lease::claim(Some(&a), &squad(), &daemon("b"), None, clock.now(), terms());
    assert_eq!(
        b,
        Claim::Granted {
            lease: Lease {
                subject: squad(),
                holder: daemon("b"),
                token: FencingToken::new(2),
                expires_at: clock.now() + Duration::from_secs(30),
            },
            from: Some(daemon("a")),
        },
        "at its expiry the lease is taken over with the next token"
    );
}

#[test]
fn heartbeats_keep_the_lease_and_its_token_for_as_long_as_the_holder_lives() {
    let mut clock = ManualClock::start();
    let mut lease = granted(Lease::claim(
        None,
        &squad(),
        &daemon("a"),
        None,
        clock.now(),
        terms(),
    ));
    assert!(!lease.renewal_due(clock.now(), terms()));
    clock.advance(Duration::from_secs(9));
    assert!(
        !lease.renewal_due(clock.now(), terms()),
        "not before a heartbeat"
    );
    // Ten minutes of heartbeats, each one on time.
    for _ in 0..60 {
        clock.advance(Duration::from_secs(1));
        assert!(lease.renewal_due(clock.now(), terms()));
        lease = lease
            .renew(&daemon("a"), lease.token, clock.now(), terms())
            .expect("a renewal on time");
        assert_eq!(lease.expires_at, clock.now() + Duration::from_secs(30));
        assert_eq!(
            Lease::claim(
                Some(&lease),
                &squad(),
                &daemon("b"),
                None,
                clock.now(),
                terms()
            ),
            Claim::Held(lease.clone())
        );
        clock.advance(Duration::from_secs(9));
    }
    assert_eq!(lease.token, FencingToken::FIRST, "renewals keep the token");
    assert!(lease.admits(&daemon("a"), lease.token).is_ok());

    // Claiming what it already holds renews it too.
    let again = Lease::claim(
        Some(&lease),
        &squad(),
        &daemon("a"),
        Some(lease.token),
        clock.now(),
        terms(),
    );
    assert_eq!(
        again,
        Claim::Renewed(Lease {
            expires_at: clock.now() + Duration::from_secs(30),
            ..lease
        })
    );
}

#[test]
fn a_holder_paused_past_its_lease_cannot_renew_or_write_after_a_takeover() {
    let mut clock = ManualClock::start();
    let a = granted(Lease::claim(
        None,
        &squad(),
        &daemon("a"),
        None,
        clock.now(),
        terms(),
    ));
    // `a` stops (SIGSTOP) and misses three heartbeats; `b` takes the squad over.
    clock.advance(Duration::from_secs(31));
    let b = granted(Lease::claim(
        Some(&a),
        &squad(),
        &daemon("b"),
        None,
        clock.now(),
        terms(),
    ));
    assert_eq!(b.token, FencingToken::new(2));

    // `a` wakes up mid-step, still believing it holds token 1.
    clock.advance(Duration::from_secs(1));
    let superseded = LeaseLost::Superseded {
        subject: squad(),
        holder: daemon("b"),
        token: FencingToken::new(2),
    };
    assert_eq!(b.admits(&daemon("a"), a.token), Err(superseded.clone()));
    assert_eq!(
        b.renew(&daemon("a"), a.token, clock.now(), terms()),
        Err(superseded.clone())
    );
    assert_eq!(
        b.release(&daemon("a"), a.token, clock.now()),
        Err(superseded.clone())
    );
    assert_eq!(
        superseded.to_string(),
        "squad s1 is held by b with token #2 now"
    );
    assert!(b.admits(&daemon("b"), b.token).is_ok());
}

#[test]
fn a_lapsed_lease_nobody_claimed_keeps_its_holder_and_token() {
    let mut clock = ManualClock::start();
    let a = granted(Lease::claim(
        None,
        &squad(),
        &daemon("a"),
        None,
        clock.now(),
        terms(),
    ));
    // A heartbeat comes late (a slow store, a busy machine): nobody else claimed the squad,
    // so nothing `a` does is refused and it renews with the same token.
    clock.advance(Duration::from_secs(40));
    assert!(!a.is_live(clock.now()));
    assert_eq!(a.admits(&daemon("a"), a.token), Ok(()));
    let renewed = a
        .renew(&daemon("a"), a.token, clock.now(), terms())
        .expect("a late renewal");
    assert_eq!(renewed.token, FencingToken::FIRST);
    assert_eq!(
        Lease::claim(
            Some(&a),
            &squad(),
            &daemon("a"),
            Some(a.token),
            clock.now(),
            terms()
        ),
        Claim::Renewed(renewed)
    );
    // Had another daemon claimed it first, `a` would have lost it.
    let b = granted(Lease::claim(
        Some(&a),
        &squad(),
        &daemon("b"),
        None,
        clock.now(),
        terms(),
    ));
    assert_eq!(b.token, FencingToken::new(2));
    assert!(b.admits(&daemon("a"), a.token).is_err());
}

#[test]
fn a_process_restarted_under_the_same_id_takes_its_work_over_with_a_new_token() {
    let mut clock = ManualClock::start();
    let first = granted(Lease::claim(
        None,
        &LeaseSubject::Runtime,
        &daemon("replica-1"),
        None,
        clock.now(),
        terms(),
    ));
    // The process is killed and started again under its configured id, well within the
    // lease: it holds no token, so it does not renew the old process's lease but takes it
    // over, and the old process (were it only paused) can write nothing more.
    clock.advance(Duration::from_secs(2));
    let restarted = Lease::claim(
        Some(&first),
        &LeaseSubject::Runtime,
        &daemon("replica-1"),
        None,
        clock.now(),
        terms(),
    );
    let lease = granted(restarted.clone());
    assert_eq!(lease.token, FencingToken::new(2));
    assert!(
        matches!(&restarted, Claim::Granted { from: Some(from), .. } if from == &daemon("replica-1")),
        "{restarted:?}"
    );
    assert!(lease.admits(&daemon("replica-1"), first.token).is_err());
}

#[test]
fn tokens_grow_on_every_takeover_and_release() {
    let mut clock = ManualClock::start();
    let mut current: Option<Lease> = None;
    let mut tokens = Vec::new();
    for (n, who) in ["a", "b", "c", "a", "b"].into_iter().enumerate() {
        let lease = granted(Lease::claim(
            current.as_ref(),
            &squad(),
            &daemon(who),
            None,
            clock.now(),
            terms(),
        ));
        tokens.push(lease.token.get());
        // Every other holder releases on its way out (SIGTERM); the rest just stop.
        current = Some(if n % 2 == 0 {
            clock.advance(Duration::from_secs(5));
            lease
                .release(&daemon(who), lease.token, clock.now())
                .expect("the holder releases")
        } else {
            clock.advance(Duration::from_secs(30));
            lease
        });
    }
    assert_eq!(tokens, [1, 2, 3, 4, 5]);
}

#[test]
fn a_released_lease_is_claimed_at_once_rather_than_after_it_lapses() {
    let mut clock = ManualClock::start();
    let a = granted(Lease::claim(
        None,
        &squad(),
        &daemon("a"),
        None,
        clock.now(),
        terms(),
    ));
    clock.advance(Duration::from_secs(3));
    let released = a
        .release(&daemon("a"), a.token, clock.now())
        .expect("its holder releases it");
    assert!(!released.is_live(clock.now()));
    let b = Lease::claim(
        Some(&released),
        &squad(),
        &daemon("b"),
        None,
        clock.now(),
        terms(),
    );
    assert!(
        matches!(&b, Claim::Granted { lease, from: Some(from) } if lease.token == FencingToken::new(2) && from == &daemon("a")),
        "{b:?}"
    );
    let b = granted(b);
    assert!(
        b.admits(&daemon("a"), a.token).is_err(),
        "once claimed, the releasing daemon writes nothing more"
    );
}

/// Three daemons claim one squad on every heartbeat for ten minutes while one of them is
/// stopped for a minute at a time: at every second at most one of them may write, and the
/// token of whoever may write never goes down.
#[test]
fn at_every_instant_at_most_one_daemon_may_write() {
    let mut clock = ManualClock::start();
    let names = ["a", "b", "c"];
    let mut stored: Option<Lease> = None;
    // What each daemon believes it holds.
    let mut believed: [Option<FencingToken>; 3] = [None; 3];
    let mut last_writer_token = FencingToken::new(0);
    let mut takeovers = 0;
    for second in 0..600_u64 {
        // `b` is stopped during the second minute, `a` during the fourth.
        let stopped = |who: usize| {
            (who == 1 && (60..120).contains(&second)) || (who == 0 && (180..240).contains(&second))
        };
        for (who, name) in names.iter().enumerate() {
            // Daemons heartbeat on their own phase: `a` on 0, `b` on 3, `c` on 6.
            if stopped(who) || !(second + 3 * who as u64).is_multiple_of(10) {
                continue;
            }
            let claim = Lease::claim(
                stored.as_ref(),
                &squad(),
                &daemon(name),
                believed[who],
                clock.now(),
                terms(),
            );
            if let Claim::Granted { from: Some(_), .. } = &claim {
                takeovers += 1;
            }
            believed[who] = claim.held_by_claimant().map(|lease| lease.token);
            if let Some(lease) = claim.held_by_claimant() {
                stored = Some(lease.clone());
            }
        }
        let lease = stored.as_ref().expect("someone claimed it");
        let writers: Vec<usize> = (0..3)
            .filter(|&who| {
                believed[who].is_some_and(|token| lease.admits(&daemon(names[who]), token).is_ok())
            })
            .collect();
        assert!(writers.len() <= 1, "second {second}: {writers:?} may write");
        if let Some(&who) = writers.first() {
            let token = believed[who].expect("a writer holds a token");
            assert!(token >= last_writer_token, "second {second}");
            last_writer_token = token;
        }
        clock.advance(Duration::from_secs(1));
    }
    assert_eq!(takeovers, 1, "only `a`'s stop lets another daemon in");
}

#[test]
fn lease_terms_keep_the_heartbeat_inside_the_lease() {
    assert_eq!(
        LeaseTerms::new(Duration::from_secs(10), Duration::from_secs(10)),
        Err(InvalidLeaseTerms {
            ttl: Duration::from_secs(10),
            heartbeat: Duration::from_secs(10),
        })
    );
    assert!(LeaseTerms::new(Duration::from_secs(10), Duration::ZERO).is_err());
    let default = LeaseTerms::default();
    assert!(default.heartbeat() * 2 < default.ttl());
}

#[test]
fn subject_keys_round_trip_and_name_one_subject_each() {
    let subjects = [
        LeaseSubject::Runtime,
        LeaseSubject::Intake(RunId::from("r1")),
        squad(),
        LeaseSubject::MergeLane {
            repository: "acme/ledger".to_owned(),
            base: "release/2.x".to_owned(),
        },
    ];
    let keys: Vec<String> = subjects.iter().map(LeaseSubject::key).collect();
    assert_eq!(
        keys,
        [
            "runtime",
            "intake:r1",
            "squad:s1",
            "merge-lane:acme/ledger:release/2.x"
        ]
    );
    for (subject, key) in subjects.iter().zip(&keys) {
        assert_eq!(LeaseSubject::from_key(key).as_ref(), Some(subject));
    }
    for bad in ["squad:", "lane:x", "merge-lane:acme/ledger", "squad"] {
        assert_eq!(LeaseSubject::from_key(bad), None, "{bad}");
    }
}
