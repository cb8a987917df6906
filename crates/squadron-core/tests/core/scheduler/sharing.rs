//! Squads shared by several daemons: a scheduler adopts the squads its daemon claimed while
//! it runs, and lets go of those whose lease it lost.

use super::*;

fn persisted(name: &str, blocked_by: &[&str], phase: Phase) -> PersistedSquad {
    PersistedSquad {
        run: RunId::new("run"),
        spec: spec(name, blocked_by),
        phase,
        round: 0,
        pr: None,
        ci_fix_rounds: 0,
        conflict_rounds: 0,
    }
}

impl Harness {
    fn adopt(&mut self, squads: Vec<PersistedSquad>) -> Vec<String> {
        self.now += 1;
        let commands = self
            .scheduler
            .adopt(squads, Timestamp::from_millis(self.now));
        show(&commands)
    }

    fn let_go(&mut self, name: &str) -> (Vec<String>, Vec<String>) {
        self.now += 1;
        let (gone, commands) = self
            .scheduler
            .let_go(&id(name), Timestamp::from_millis(self.now));
        (
            gone.iter().map(ToString::to_string).collect(),
            show(&commands),
        )
    }
}

#[test]
fn claimed_squads_are_adopted_while_running_knowing_how_their_blockers_ended() {
    let mut harness = Harness::new(3);
    assert_eq!(
        harness.adopt(vec![persisted("a", &[], Phase::Queued)]),
        ["record a queued -> preparing r0 @1", "prepare a"]
    );
    assert_eq!(
        harness.adopt(vec![persisted("b", &[], Phase::Implementing)]),
        ["implement b"],
        "a squad taken over resumes its recorded phase"
    );
    // Claimed once its blockers ended: one merged, one that needs a person.
    assert_eq!(
        harness.adopt(vec![
            persisted("done", &[], Phase::Merged),
            persisted("c", &["done"], Phase::Queued),
            persisted("stuck", &[], Phase::NeedsHuman("no".into())),
            persisted("d", &["stuck"], Phase::Queued),
        ]),
        [
            "record d queued -> needs-human (blocked by ENG-stuck, which ended needs-human (no): resolve ENG-stuck first, then start this issue again) r0 @3",
            "record c queued -> preparing r0 @3",
            "prepare c",
        ]
    );
    assert!(
        harness
            .adopt(vec![persisted("a", &[], Phase::Queued)])
            .is_empty(),
        "a squad already scheduled stays as it is"
    );
    harness.drive("a", "merged");
    harness.drive("c", "merged");
    let out = harness.send(Event::StepNeedsHuman {
        squad: id("b"),
        reason: "stuck".into(),
    });
    assert_eq!(
        out.last().map(String::as_str),
        Some("finished run: 3 merged, 3 needs-human")
    );
}

#[test]
fn a_squad_let_go_frees_its_slot_and_takes_the_squads_waiting_on_it_along() {
    let mut harness = Harness::new(1);
    harness.admit(vec![spec("a", &[]), spec("b", &["a"]), spec("c", &[])]);
    assert_eq!(harness.phase("a"), "preparing");
    let (gone, out) = harness.let_go("a");
    assert_eq!(gone, ["a", "b"]);
    assert_eq!(out, ["record c queued -> preparing r0 @2", "prepare c"]);
    assert!(harness.scheduler.squad(&id("a")).is_none());
    assert!(harness.scheduler.squad(&id("b")).is_none());
    let late = harness.try_send(Event::Prepared { squad: id("a") });
    assert!(
        matches!(late, Err(Refusal::UnknownSquad { .. })),
        "a late result of work let go is refused: {late:?}"
    );
    assert_eq!(harness.let_go("a"), (vec![], vec![]));

    // The squads that stay carry on to the end of their run.
    harness.drive("c", "merged");
    assert_eq!(harness.phase("c"), "merged");
}

#[test]
fn a_squad_let_go_while_merging_hands_its_lane_to_the_next() {
    let mut harness = Harness::new(2);
    harness.admit(vec![on_main("a"), on_main("b")]);
    harness.drive("a", "merging");
    harness.drive("b", "approved");
    harness.send(Event::GateDecided {
        squad: id("b"),
        head: head(),
        decision: GateDecision::Merge,
    });
    assert_eq!(harness.phase("b"), "approved", "b waits in the lane");
    let (gone, out) = harness.let_go("a");
    assert_eq!(gone, ["a"]);
    assert_eq!(
        out,
        [
            format!("record b approved -> merging r2 @{}", harness.now),
            "merge b".to_owned()
        ]
    );
}
