//! Ctrl-C during `squadron demo --model …` against a model like the small real ones: slow, and
//! every reply cut off at the output limit, so the harness keeps asking again with a raised
//! limit. The first Ctrl-C must stop every model call at once (no request starts after it, be
//! it a raised-limit retry, a step retry or a continuation) and the demo must checkpoint and
//! exit within seconds; a second Ctrl-C exits at once, whatever the first is waiting for.

use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use squadron_standin_model::{
    Action, Reply, Script, ScriptBook, ScriptedToolCall, ServerTraits, StandinModel,
};

use crate::support::demo_with_model;

/// The output limit the stand-in model is configured with.
const LIMIT: u64 = 1024;

/// A model whose every reply takes 2 s and is cut off at any output limit: the harness asks
/// again at 2048 and 4096 tokens before telling it to reply with less.
fn long_winded() -> Script {
    Script::new("long-winded")
        .with_server(ServerTraits {
            reply_tokens: Some(1_000_000),
            ..ServerTraits::default()
        })
        .then_after(
            Duration::from_secs(2),
            Action::Reply(Reply::tool_calls([ScriptedToolCall::new(
                "read_file",
                &json!({"path": "AGENTS.md"}),
            )])),
        )
}

/// The output limit a request asked for.
fn limit_of(body: &serde_json::Value) -> Option<u64> {
    body["max_tokens"]
        .as_u64()
        .or_else(|| body["max_completion_tokens"].as_u64())
}

/// The demo, run by the stand-in `model`, its output in files under `dir`.
struct Demo {
    child: Child,
    dir: tempfile::TempDir,
    _home: tempfile::TempDir,
}

impl Demo {
    fn start(model: &StandinModel) -> Demo {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let home = tempfile::tempdir().expect("a scratch home");
        let file = |name: &str| std::fs::File::create(dir.path().join(name)).expect("a log file");
        let child = demo_with_model(
            &model.base_url(),
            "long-winded",
            60,
            dir.path(),
            home.path(),
        )
        .stdin(Stdio::null())
        .stdout(file("stdout"))
        .stderr(file("stderr"))
        .spawn()
        .expect("start the squadron binary");
        Demo {
            child,
            dir,
            _home: home,
        }
    }

    fn interrupt(&self) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits"));
        kill(pid, Signal::SIGINT).expect("send SIGINT");
    }

    /// The exit status, once the demo exited within `limit`.
    fn exited_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("poll the demo") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The exit status and stderr once the demo exited within `limit`; fails the test
    /// otherwise.
    fn exit_within(&mut self, limit: Duration) -> (ExitStatus, String) {
        let status = self.exited_within(limit).unwrap_or_else(|| {
            panic!(
                "the demo still runs {limit:?} after Ctrl-C:\n{}",
                self.stderr()
            )
        });
        (status, self.stderr())
    }

    fn stderr(&self) -> String {
        read(&self.dir.path().join("stderr"))
    }
}

/// The output limits of the model requests that arrived after `at`.
fn started_after(model: &StandinModel, at: Instant) -> Vec<Option<u64>> {
    model
        .requests()
        .iter()
        .filter(|request| request.received_at > at)
        .map(|request| limit_of(&request.body))
        .collect()
}

/// How many requests the script named `script` answered.
fn answered_by(requests: &[squadron_standin_model::RecordedRequest], script: &str) -> usize {
    requests
        .iter()
        .filter(|request| request.script.as_deref() == Some(script))
        .count()
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits (up to a minute) until `done` holds for the stand-in's requests.
fn wait_for(
    model: &StandinModel,
    what: &str,
    done: impl Fn(&[squadron_standin_model::RecordedRequest]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(&model.requests()) {
        assert!(Instant::now() < deadline, "waited a minute for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime for the model stand-in")
}

#[test]
fn ctrl_c_stops_every_model_call_and_the_demo_checkpoints_within_seconds() {
    let runtime = runtime();
    let model = runtime
        .block_on(StandinModel::start(ScriptBook::new().with(long_winded())))
        .expect("the model stand-in starts");
    let mut demo = Demo::start(&model);
    // A raised-limit request in flight: the harness is in its loop of asking again.
    wait_for(&model, "a request with a raised output limit", |requests| {
        requests
            .iter()
            .any(|request| limit_of(&request.body) > Some(LIMIT))
    });
    std::thread::sleep(Duration::from_millis(300));

    let interrupted = Instant::now();
    demo.interrupt();
    let (status, stderr) = demo.exit_within(Duration::from_secs(15));

    assert_eq!(
        status.code(),
        Some(75),
        "an interrupted demo is a temporary failure:\n{stderr}"
    );
    assert!(stderr.contains("interrupted"), "{stderr}");
    let late = started_after(&model, interrupted);
    assert!(
        late.is_empty(),
        "model requests started after Ctrl-C, with output limits {late:?}:\n{stderr}"
    );
    // Checkpointed: the store holds the run, to be resumed.
    assert!(demo.dir.path().join("state/squadron.db").is_file());
}

#[test]
fn a_second_ctrl_c_exits_at_once_while_the_first_waits_for_a_test_run() {
    // QA writes a test that takes half a minute to import, then runs the tests: a tool call
    // in progress, which the first Ctrl-C lets complete so the agent's work is whole.
    let qa = Script::new("qa-ENG-2")
        .when_task_contains("# Task: write the tests for ENG-2\n")
        .then(Action::Reply(Reply::tool_calls([ScriptedToolCall::new(
            "write_file",
            &json!({
                "path": "tests/test_hold.py",
                "content": "import time\n\ntime.sleep(30)\n",
            }),
        )])))
        .then(Action::Reply(Reply::tool_calls([ScriptedToolCall::new(
            "run_tests",
            &json!({}),
        )])));
    let runtime = runtime();
    let model = runtime
        .block_on(StandinModel::start(
            ScriptBook::new().with(qa).with(long_winded()),
        ))
        .expect("the model stand-in starts");
    let mut demo = Demo::start(&model);
    wait_for(&model, "QA's test run", |requests| {
        answered_by(requests, "qa-ENG-2") >= 2
    });
    std::thread::sleep(Duration::from_secs(1));

    demo.interrupt();
    assert!(
        demo.exited_within(Duration::from_millis(1500)).is_none(),
        "the first Ctrl-C lets the test run in progress end:\n{}",
        demo.stderr()
    );
    let again = Instant::now();
    demo.interrupt();
    let (status, stderr) = demo.exit_within(Duration::from_secs(3));

    assert!(again.elapsed() < Duration::from_secs(3));
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("SIGINT again: exiting at once"),
        "the person is told why it stopped:\n{stderr}"
    );
}

#[test]
fn ctrl_c_does_not_wait_for_a_step_retry_waiting_out_its_backoff() {
    // Every call fails as a server error: each failed step is retried after a backoff that
    // doubles (1-2 s, 2-4 s, 4-8 s, …).
    let failing = |script: Script| {
        (0..100).fold(script, |script, _| {
            script.then(Action::ServerError { status: 500 })
        })
    };
    let runtime = runtime();
    let model = runtime
        .block_on(StandinModel::start(
            ScriptBook::new()
                .with(failing(
                    Script::new("developer-ENG-2").when_task_contains("# Task: implement ENG-2\n"),
                ))
                .with(failing(Script::new("anyone"))),
        ))
        .expect("the model stand-in starts");
    let mut demo = Demo::start(&model);
    // The third attempt of ENG-2's implementation failed: its fourth waits 4-8 s.
    wait_for(&model, "the third attempt of ENG-2's step", |requests| {
        answered_by(requests, "developer-ENG-2") >= 3
    });
    std::thread::sleep(Duration::from_millis(300));

    let interrupted = Instant::now();
    demo.interrupt();
    // Without waiting for the retry's backoff.
    let (status, stderr) = demo.exit_within(Duration::from_secs(3));

    assert_eq!(status.code(), Some(75), "{stderr}");
    let late = started_after(&model, interrupted);
    assert!(
        late.is_empty(),
        "model requests started after Ctrl-C:\n{stderr}"
    );
}
