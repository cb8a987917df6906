//! `squadron status` and `squadron logs` read what the store recorded.

use squadron_core::ports::{ChatMessage, SquadRecord, ToolCall, UsageRecord};
use squadron_core::{
    IssueId, IssueKey, Phase, Role, Run, RunId, RunTrigger, Squad, SquadId, SquadKind, Timestamp,
    TokenUsage, Usd,
};
use squadron_store::{SqlStore, StoreLocation};

use crate::support::Sandbox;

const URL: &str = "https://linear.app/acme/project/checkout-v2-a5e6ddb5d475/overview";

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + seconds * 1000)
}

/// Records one run with two squads, one of them reviewing with usage and a transcript.
pub async fn seed(sandbox: &Sandbox) {
    let store = SqlStore::open(&StoreLocation::Sqlite(sandbox.database()))
        .await
        .expect("open store");
    let run = Run {
        id: RunId::from("run-1"),
        trigger: RunTrigger::Milestone { url: URL.into() },
        created_at: at(0),
    };
    store.create_run(&run).await.expect("create run");
    for (id, key) in [
        ("squad-a", "ENG-1"),
        ("squad-b", "ENG-2"),
        ("squad-c", "ENG-3"),
    ] {
        let record = SquadRecord {
            squad: Squad {
                id: SquadId::from(id),
                run_id: run.id.clone(),
                issue: IssueKey::from(key),
                kind: SquadKind::Feature,
                phase: Phase::Queued,
                round: 0,
                pr: None,
                branch: format!("eng-{key}"),
                worktree: None,
            },
            issue_id: IssueId::from(format!("uuid-{key}")),
            blocked_by: if key == "ENG-2" {
                vec![IssueKey::from("ENG-1")]
            } else {
                vec![]
            },
            // ENG-3 names some of ENG-1's files: it starts once ENG-1 ended.
            starts_after: if key == "ENG-3" {
                vec![IssueKey::from("ENG-1")]
            } else {
                vec![]
            },
            created_at: at(1),
            updated_at: at(1),
        };
        store.create_squad(&record).await.expect("create squad");
    }
    let squad = SquadId::from("squad-a");
    store
        .set_phase(&squad, &Phase::Queued, &Phase::Preparing, at(2))
        .await
        .expect("phase");
    store
        .set_phase(&squad, &Phase::Preparing, &Phase::Implementing, at(3))
        .await
        .expect("phase");
    store
        .append_message(
            &squad,
            Role::Developer,
            &ChatMessage::User {
                content: "Implement ENG-1".into(),
            },
            at(4),
        )
        .await
        .expect("message");
    let call = ToolCall {
        id: "call-1".into(),
        name: "read_file".into(),
        arguments: r#"{"path":"src/lib.rs"}"#.into(),
    };
    store
        .append_message(
            &squad,
            Role::Developer,
            &ChatMessage::Assistant {
                content: None,
                tool_calls: vec![call],
                reasoning: None,
            },
            at(5),
        )
        .await
        .expect("message");
    store
        .record_usage(&UsageRecord {
            run_id: run.id.clone(),
            squad_id: squad.clone(),
            role: Role::Developer,
            model: "openai/gpt-4.1".into(),
            usage: TokenUsage {
                prompt: 1200,
                cached: 200,
                completion: 300,
            },
            cost: Usd::from_micros(4_500),
            at: at(5),
        })
        .await
        .expect("usage");
    store.close().await;
}

#[tokio::test]
async fn status_on_an_empty_store_says_how_to_start() {
    let sandbox = Sandbox::new();
    SqlStore::open(&StoreLocation::Sqlite(sandbox.database()))
        .await
        .expect("create an empty store")
        .close()
        .await;
    let outcome = sandbox.run(&["status"], &[]);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr());
    assert!(
        outcome.stdout().contains("No runs yet"),
        "{}",
        outcome.stdout()
    );
}

#[test]
fn status_without_any_store_at_the_default_location_says_how_to_start_and_creates_none() {
    let sandbox = Sandbox::new();
    let mut command = sandbox.command(&["status"], &[]);
    command.env_remove("DATABASE_URL");
    let outcome = crate::support::Outcome(command.output().expect("run squadron status"));
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr());
    assert!(
        outcome.stdout().contains("No runs yet"),
        "{}",
        outcome.stdout()
    );
    assert!(
        !sandbox.path().join(".local/share/squadron").exists(),
        "reading creates no store"
    );
}

#[tokio::test]
async fn status_lists_each_squad_with_phase_round_tokens_and_cost() {
    let sandbox = Sandbox::new();
    seed(&sandbox).await;

    let table = sandbox.run(&["status"], &[]);
    assert_eq!(table.code(), 0, "{}", table.stderr());
    let text = table.stdout();
    assert!(text.contains("Run run-1"), "{text}");
    assert!(text.contains(URL), "{text}");
    let eng1 = text
        .lines()
        .find(|line| line.contains("ENG-1"))
        .expect("a row for ENG-1");
    assert!(
        eng1.contains("implementing") && eng1.contains("1.5k") && eng1.contains("$0.0045"),
        "{eng1}"
    );
    let eng2 = text
        .lines()
        .find(|line| line.contains("ENG-2"))
        .expect("a row for ENG-2");
    assert!(eng2.contains("queued"), "{eng2}");
    assert!(
        text.contains("ENG-3 waits for ENG-1 to finish: both name some of the same files"),
        "{text}"
    );

    let json = sandbox.run(&["status", "--json"], &[]).json();
    let squads = json["runs"][0]["squads"].as_array().expect("squads");
    assert_eq!(squads.len(), 3);
    let first = &squads[0];
    assert_eq!(first["issue"], "ENG-1");
    assert_eq!(first["phase"], "implementing");
    assert_eq!(first["tokens"]["total"], 1500);
    assert_eq!(first["tokens"]["cached"], 200);
    assert_eq!(first["cost_usd"], 0.0045);
    assert_eq!(squads[1]["blocked_by"][0], "ENG-1");
    assert_eq!(squads[2]["starts_after"], serde_json::json!(["ENG-1"]));
    assert_eq!(json["runs"][0]["trigger"]["url"], URL);
}

#[tokio::test]
async fn logs_show_events_and_transcript_by_issue_key() {
    let sandbox = Sandbox::new();
    seed(&sandbox).await;

    let text = sandbox.run(&["logs", "eng-1"], &[]);
    assert_eq!(text.code(), 0, "{}", text.stderr());
    let out = text.stdout();
    assert!(
        out.contains("Squad squad-a · ENG-1 · implementing"),
        "{out}"
    );
    assert!(out.contains("Implement ENG-1"), "{out}");
    assert!(
        out.contains(r#"→ read_file({"path":"src/lib.rs"})"#),
        "{out}"
    );
    let preparing = out
        .find("preparing")
        .expect("the phase change to preparing");
    let implementing = out
        .rfind("implementing")
        .expect("the phase change to implementing");
    assert!(preparing < implementing, "events are in order:\n{out}");

    let json = sandbox.run(&["logs", "squad-a", "--json"], &[]).json();
    assert_eq!(json["squad"]["issue"], "ENG-1");
    assert_eq!(
        json["transcript"][1]["message"]["tool_calls"][0]["name"],
        "read_file"
    );
    assert!(
        json["events"]
            .as_array()
            .is_some_and(|events| events.len() >= 2)
    );
}

#[tokio::test]
async fn logs_of_an_unknown_squad_is_a_user_error_that_says_what_to_do() {
    let sandbox = Sandbox::new();
    seed(&sandbox).await;
    let outcome = sandbox.run(&["logs", "ENG-99"], &[]);
    assert_eq!(outcome.code(), 64);
    assert!(outcome.stderr().contains("ENG-99"), "{}", outcome.stderr());
    assert!(
        outcome.stderr().contains("squadron status"),
        "{}",
        outcome.stderr()
    );
}

#[test]
fn a_bad_database_url_is_a_config_error_naming_the_scheme() {
    let sandbox = Sandbox::new();
    let outcome = sandbox.run(
        &["status", "--database-url", "mysql://root@localhost/db"],
        &[],
    );
    assert_eq!(outcome.code(), 78, "{}", outcome.stderr());
    assert!(outcome.stderr().contains("mysql"), "{}", outcome.stderr());
}

#[tokio::test]
async fn status_watch_redraws_until_interrupted() {
    use std::io::Read;
    use std::process::Stdio;

    let sandbox = Sandbox::new();
    seed(&sandbox).await;
    let mut child = sandbox
        .command(&["status", "--watch"], &[])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start squadron status --watch");
    let mut stdout = child.stdout.take().expect("piped stdout");
    // Read until the first frame shows the seeded squad; a frame comes every two seconds.
    let mut seen = String::new();
    let mut buffer = [0_u8; 4096];
    while !seen.contains("ENG-2") {
        let read = stdout.read(&mut buffer).expect("read the watch output");
        assert!(
            read > 0,
            "the watch ended before drawing the squads: {seen}"
        );
        seen.push_str(&String::from_utf8_lossy(&buffer[..read]));
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("send SIGINT");
    let status = child.wait().expect("wait for the watch to end");
    assert_eq!(status.code(), Some(0), "Ctrl-C ends the watch cleanly");
    assert!(seen.contains("implementing"), "{seen}");
}

#[tokio::test]
async fn status_heads_each_run_with_its_totals_puts_waits_below_and_narrows_to_one_run() {
    let sandbox = Sandbox::new();
    seed(&sandbox).await;

    let text = sandbox.run(&["status"], &[]).stdout();
    let heading = text
        .lines()
        .find(|line| line.starts_with("Run run-1"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        heading.contains("3 squads: 1 implementing, 2 queued")
            && heading.contains("1.5k tokens")
            && heading.contains("$0.0045"),
        "{heading}"
    );
    assert!(
        text.lines()
            .any(|line| line == "ENG-2 waits for ENG-1 to merge"),
        "what a queued squad waits for goes below the table:\n{text}"
    );
    assert!(
        text.lines().any(|line| line
            == "ENG-3 waits for ENG-1 to finish: both name some of the same files"),
        "and what one naming the same files waits for:\n{text}"
    );

    let one = sandbox
        .run(&["status", "--run", "run-1", "--json"], &[])
        .json();
    assert_eq!(one["runs"].as_array().map(Vec::len), Some(1));
    let missing = sandbox.run(&["status", "--run", "run-404"], &[]);
    assert_eq!(missing.code(), 64, "{}", missing.stderr());
    assert!(missing.stderr().contains("run-404"), "{}", missing.stderr());
}

#[tokio::test]
async fn status_says_why_the_merge_gate_holds_an_approved_squad() {
    let sandbox = Sandbox::new();
    seed(&sandbox).await;
    let store = SqlStore::open(&StoreLocation::Sqlite(sandbox.database()))
        .await
        .expect("open store");
    let squad = SquadId::from("squad-a");
    store
        .set_phase(&squad, &Phase::Implementing, &Phase::Approved, at(6))
        .await
        .expect("phase");
    let decision = |reasons: &[&str]| {
        serde_json::json!({ "decision": "blocked", "reasons": reasons, "head": "a".repeat(40) })
            .to_string()
    };
    for (payload, when) in [
        (decision(&["`dev-bot` requested changes"]), at(7)),
        (decision(&["required check `ci` is pending"]), at(8)),
    ] {
        store
            .append_event(&squad, "gate-decision", &payload, when)
            .await
            .expect("event");
    }
    store.close().await;

    let text = sandbox.run(&["status"], &[]).stdout();
    assert!(
        text.lines()
            .any(|line| line == "ENG-1 waits at the merge gate: required check `ci` is pending"),
        "the gate's last word goes below the table:\n{text}"
    );
    assert!(
        !text.contains("requested changes"),
        "only the last decision:\n{text}"
    );
}

#[tokio::test]
async fn logs_keep_only_the_roles_and_event_kinds_asked_for() {
    let sandbox = Sandbox::new();
    seed(&sandbox).await;

    let phases = sandbox
        .run(&["logs", "ENG-1", "--kind", "phase-changed"], &[])
        .stdout();
    let events: Vec<&str> = phases
        .split("Transcript")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|line| line.starts_with("  ") && !line.contains("(none)"))
        .collect();
    assert!(!events.is_empty(), "{phases}");
    assert!(
        events.iter().all(|line| line.contains("phase-changed")),
        "{phases}"
    );
    let qa = sandbox
        .run(&["logs", "ENG-1", "--role", "qa"], &[])
        .stdout();
    assert!(!qa.contains("Implement ENG-1"), "only QA's messages:\n{qa}");
    let bad = sandbox.run(&["logs", "ENG-1", "--role", "reviewer"], &[]);
    assert_eq!(bad.code(), 64, "{}", bad.stderr());
    assert!(bad.stderr().contains("code-reviewer"), "{}", bad.stderr());
}

#[tokio::test]
async fn logs_follow_prints_new_entries_until_the_squad_ends() {
    use std::io::Read;
    use std::process::Stdio;

    let sandbox = Sandbox::new();
    seed(&sandbox).await;
    let mut child = sandbox
        .command(&["logs", "ENG-1", "--follow"], &[])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start squadron logs --follow");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut seen = String::new();
    let mut buffer = [0_u8; 4096];
    while !seen.contains("Following ENG-1") {
        let read = stdout.read(&mut buffer).expect("read");
        assert!(read > 0, "ended before following: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..read]));
    }

    let store = SqlStore::open(&StoreLocation::Sqlite(sandbox.database()))
        .await
        .expect("open store");
    let squad = SquadId::from("squad-a");
    store
        .append_message(
            &squad,
            Role::Qa,
            &ChatMessage::User {
                content: "Write the tests for ENG-1".into(),
            },
            at(6),
        )
        .await
        .expect("message");
    store
        .set_phase(&squad, &Phase::Implementing, &Phase::Cancelled, at(7))
        .await
        .expect("phase");
    store.close().await;

    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("read the rest");
    let status = child.wait().expect("wait for logs --follow");
    assert_eq!(status.code(), Some(0), "{rest}");
    assert!(rest.contains("Write the tests for ENG-1"), "{rest}");
    let message = rest.find("Write the tests").unwrap_or_default();
    let cancelled = rest
        .find("implementing → cancelled")
        .or_else(|| rest.find("cancelled"))
        .unwrap_or_default();
    assert!(message < cancelled, "in the order they happened:\n{rest}");
    assert!(rest.contains("ENG-1 ended: cancelled"), "{rest}");
}
