//! Generated milestones: `count` independent issues of team ENG, each adding its own small
//! module and test to the sample repository, with scripts for every role that write real,
//! passing code. Variants change what the reviewers or the model do. The end-to-end tests
//! run them, and `squadron demo --standins --issues N` serves one.

use std::time::Duration;

use crate::demo::world::WorldSeed;
use serde_json::json;
use squadron_standin_linear::{IssueSpec, Workspace};
use squadron_standin_model::{Action, Reply, Script, ScriptBook, ScriptedToolCall, ScriptedUsage};

/// The review-round cap the generated milestones are run with; the scripted reviewers
/// approve that many rounds.
pub const MAX_ROUNDS: u32 = 10;

/// The generated project's slug id.
const SLUG_ID: &str = "9e2e0c0ffee1";

/// The sample repository's package, which [`Behaviour::ExportsRate`] squads all edit.
pub const PACKAGE: &str = "ledger/__init__.py";

/// How the generated squads behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Both reviewers approve the first round.
    Approve,
    /// The Code Reviewer requests changes in every one of `rounds` rounds.
    NeverSatisfied {
        /// Rounds scripted.
        rounds: u32,
    },
    /// The Code Reviewer requests changes in round 1 with one line comment and approves
    /// after; the Developer's fix is played only when its task quotes that comment.
    ChangesOnce,
    /// The Developer's first model call reports a million prompt tokens.
    Expensive,
    /// The Developer's first model call takes a minute: long enough to cancel it.
    Stalled,
    /// The Developer leaves a `TODO` in its module, which the local tests accept and a CI
    /// check may refuse; told that a required check fails, it removes it.
    LeavesTodo,
    /// QA's test also holds that this plan is the cheapest of the ledger's plans: true on
    /// the base, false once a cheaper plan merged too. Two such changes each pass alone and
    /// break the suite together.
    CheapestPlan,
    /// The Developer's first model call is answered only once the test releases the gate
    /// [`held_gate`] names for the issue: the squad starts with the others and finishes when
    /// the test says.
    Held,
    /// The Developer also exports its rate from `ledger/__init__.py`, on the lines every
    /// squad of this behaviour edits, and QA tests it through that export; told that its
    /// branch conflicts with the base, the Developer keeps every such squad's export. With
    /// `held`, its first model call waits for [`held_gate`] as [`Behaviour::Held`]'s does, so
    /// that a sibling can merge first.
    ExportsRate {
        /// Whether the Developer's first call waits for the test to release it.
        held: bool,
    },
}

/// The stand-in model's gate a [`Behaviour::Held`] squad of `identifier` waits for.
pub fn held_gate(identifier: &str) -> String {
    format!("start-{identifier}")
}

/// A milestone of `count` issues, ENG-1 … ENG-`count`, all refined and independent.
pub fn milestone(count: u32, behaviour: Behaviour) -> WorldSeed {
    let behaviours: Vec<Behaviour> = (0..count).map(|_| behaviour).collect();
    milestone_of(&behaviours)
}

/// A milestone with one issue per entry of `behaviours`, ENG-1 first.
pub fn milestone_of(behaviours: &[Behaviour]) -> WorldSeed {
    milestone_naming(behaviours, &[])
}

/// [`milestone_of`] whose issues name files in a "Files" section of their description: the
/// `n`-th issue the paths of `files[n]` (none past the end of `files`), which admission
/// reads to keep squads naming the same files from running at once.
pub fn milestone_naming(behaviours: &[Behaviour], files: &[&[&str]]) -> WorldSeed {
    let mut workspace = Workspace::new("acme");
    workspace.add_team("ENG", "Engineering");
    let project = workspace.add_project("Plans", SLUG_ID);
    let milestone = workspace.add_milestone(&project, "Rates", 1.0, "next");
    let mut scripts = ScriptBook::new();
    let exporters: Vec<u32> = (1..)
        .zip(behaviours)
        .filter(|(_, behaviour)| matches!(behaviour, Behaviour::ExportsRate { .. }))
        .map(|(n, _)| n)
        .collect();
    let named = files
        .iter()
        .copied()
        .chain(std::iter::repeat::<&[&str]>(&[]));
    for ((n, behaviour), named) in (1..).zip(behaviours.iter().copied()).zip(named) {
        let identifier = workspace.add_issue(
            IssueSpec::new("ENG", &format!("Rate of plan {n}"))
                .description(&description(n, named))
                .estimate(1.0)
                .milestone(&milestone),
        );
        let reverts = revert_scripts(&identifier, n);
        for script in issue_scripts(&identifier, n, behaviour, &exporters)
            .into_iter()
            .chain(reverts)
        {
            scripts = scripts.with(script);
        }
    }
    WorldSeed {
        workspace,
        scripts,
        project_url: format!("https://linear.app/acme/project/plans-{SLUG_ID}/overview"),
    }
}

fn description(n: u32, files: &[&str]) -> String {
    let mut text = format!(
        "Add `ledger/rate_{n}.py` with `rate_{n}()`.\n\n```gherkin\nFeature: Plan {n}\n\n  \
         Scenario: The rate of plan {n}\n    When I ask for the rate of plan {n}\n    \
         Then it is {n}00 cents\n```\n"
    );
    if !files.is_empty() {
        text.push_str("\n## Files\n");
        for file in files {
            text.push_str(&format!("- `{file}`\n"));
        }
    }
    text
}

fn module(n: u32, revision: u32) -> String {
    let note = if revision == 0 {
        String::new()
    } else {
        format!("\n# Revised after review round {revision}.\n")
    };
    format!(
        "\"\"\"The rate of plan {n}.\"\"\"\n\n\ndef rate_{n}():\n    \"\"\"Return the monthly rate of plan {n}, in integer cents.\"\"\"\n    return {n}00\n{note}"
    )
}

/// `ledger/__init__.py` exporting the rates of `plans` besides what the sample repository
/// exports: every plan's import goes on the same line, and so does its name.
fn package_exporting(plans: &[u32]) -> String {
    let imports: String = plans
        .iter()
        .map(|n| format!("from ledger.rate_{n} import rate_{n}\n"))
        .collect();
    let names: String = plans.iter().map(|n| format!(", \"rate_{n}\"")).collect();
    format!(
        "\"\"\"A tiny household ledger: record expenses in integer cents and summarise them.\"\"\"\n\nfrom ledger.entries import Entry\nfrom ledger.money import format_cents, parse_amount\n{imports}\n__all__ = [\"Entry\", \"format_cents\", \"parse_amount\"{names}]\n"
    )
}

fn test_file(n: u32, behaviour: Behaviour) -> String {
    let imports = if behaviour == Behaviour::CheapestPlan {
        "import importlib\nimport pathlib\n"
    } else {
        ""
    };
    // An exported rate is tested through the package, so losing its export fails the tests.
    let from = if matches!(behaviour, Behaviour::ExportsRate { .. }) {
        "ledger".to_owned()
    } else {
        format!("ledger.rate_{n}")
    };
    let mut text = format!(
        "\"\"\"Tests of ledger.rate_{n}.\"\"\"\n\n{imports}import unittest\n\nfrom {from} import rate_{n}\n\n\nclass Rate{n}Test(unittest.TestCase):\n    def test_ac1_the_rate_of_plan_{n}(self):\n        \"\"\"AC-1: the rate of plan {n}.\"\"\"\n        self.assertEqual(rate_{n}(), {n}00)\n"
    );
    if behaviour == Behaviour::CheapestPlan {
        text.push_str(&format!(
            "\n    def test_plan_{n}_is_the_cheapest(self):\n        \"\"\"Plan {n} is the cheapest plan of the ledger.\"\"\"\n        ledger = pathlib.Path(__file__).resolve().parent.parent / \"ledger\"\n        rates = [\n            getattr(importlib.import_module(f\"ledger.{{path.stem}}\"), path.stem)()\n            for path in ledger.glob(\"rate_*.py\")\n        ]\n        self.assertEqual(min(rates), {n}00)\n"
        ));
    }
    text
}

fn call(name: &str, arguments: &serde_json::Value) -> Action {
    Action::Reply(Reply::tool_calls([ScriptedToolCall::new(name, arguments)]))
}

fn review(verdict: &str, n: u32) -> Action {
    let comments = if verdict == "request_changes" {
        json!([{ "path": format!("ledger/rate_{n}.py"), "line": 4, "body": "Name the plan's currency in the docstring." }])
    } else {
        json!([])
    };
    call(
        "submit_review",
        &json!({ "verdict": verdict, "summary": format!("Review of plan {n}."), "comments": comments }),
    )
}

/// Both reviewers of a revert of the issue's merge (`squadron revert`) approve it, also again
/// after a rebase.
fn revert_scripts(identifier: &str, n: u32) -> [Script; 2] {
    [
        ("code-reviewer", "revert"),
        ("qa-specialist", "tests after the revert"),
    ]
    .map(|(role, what)| {
        let mut script = Script::new(format!("{role}-revert-{identifier}"))
            .when_task_contains(format!("# Task: review the {what} of {identifier} (round"));
        for _ in 0..MAX_ROUNDS {
            script = script.then(review("approve", n));
        }
        script
    })
}

fn issue_scripts(identifier: &str, n: u32, behaviour: Behaviour, exporters: &[u32]) -> Vec<Script> {
    let path = format!("ledger/rate_{n}.py");
    // The Developer reads the conventions first; in the expensive variant that one call
    // reports a million prompt tokens, which spends the squad's budget.
    let mut reading = Reply::tool_calls([ScriptedToolCall::new(
        "read_file",
        &json!({ "path": "AGENTS.md" }),
    )]);
    if behaviour == Behaviour::Expensive {
        reading = reading.usage(ScriptedUsage {
            prompt_tokens: 1_000_000,
            completion_tokens: 1_000,
            cached_tokens: None,
        });
    }
    let stall = if behaviour == Behaviour::Stalled {
        Duration::from_secs(60)
    } else {
        Duration::ZERO
    };
    let first_version = if behaviour == Behaviour::LeavesTodo {
        format!("{}# TODO: name the plan's currency.\n", module(n, 0))
    } else {
        module(n, 0)
    };
    let developer = Script::new(format!("developer-{identifier}"))
        .when_task_contains(format!("# Task: implement {identifier}\n"));
    let held = matches!(
        behaviour,
        Behaviour::Held | Behaviour::ExportsRate { held: true }
    );
    let developer = if held {
        developer.then_when_released(held_gate(identifier), Action::Reply(reading))
    } else {
        developer.then_after(stall, Action::Reply(reading))
    };
    let mut developer = developer.then(call(
        "write_file",
        &json!({ "path": path, "content": first_version }),
    ));
    let exports = matches!(behaviour, Behaviour::ExportsRate { .. });
    if exports {
        developer = developer.then(call(
            "write_file",
            &json!({ "path": PACKAGE, "content": package_exporting(&[n]) }),
        ));
    }
    let developer = developer.then(call(
        "finish",
        &json!({ "summary": format!("Add rate_{n}") }),
    ));
    let qa = Script::new(format!("qa-{identifier}"))
        .when_task_contains(format!("# Task: write the tests for {identifier}\n"))
        .then(call(
            "write_file",
            &json!({ "path": format!("tests/test_rate_{n}.py"), "content": test_file(n, behaviour) }),
        ))
        .then(call(
            "finish",
            &json!({ "summary": format!("AC-1: test_ac1_the_rate_of_plan_{n}") }),
        ));
    let mut scripts = Vec::new();
    if behaviour == Behaviour::LeavesTodo {
        // The CI-fix turn goes on in the implementing conversation with the failing check
        // (or, after a restart, is an implementing task with the check appended).
        scripts.push(
            Script::new(format!("developer-ci-fix-{identifier}"))
                .when_asked("## A required check fails on the pull request")
                .then(call(
                    "write_file",
                    &json!({ "path": path, "content": module(n, 0) }),
                ))
                .then(call(
                    "finish",
                    &json!({ "summary": format!("Remove the TODO from rate_{n}") }),
                )),
        );
    }
    if exports {
        // Whichever sibling merges second finds its branch in conflict with the first.
        scripts.push(
            Script::new(format!("developer-conflicts-{identifier}"))
                .when_task_contains(format!(
                    "# Task: resolve the conflicts of {identifier} with `main`"
                ))
                .then(call(
                    "write_file",
                    &json!({ "path": PACKAGE, "content": package_exporting(exporters) }),
                ))
                .then(call(
                    "finish",
                    &json!({ "summary": "Kept both exports in ledger/__init__.py" }),
                )),
        );
    }
    scripts.extend([developer, qa]);
    if let Behaviour::NeverSatisfied { rounds } = behaviour {
        // A reviewer's later rounds go on in its conversation of the first, whose task names
        // round 1: one script per reviewer plays every round.
        let mut code_reviewer = Script::new(format!("code-reviewer-{identifier}"))
            .when_task_contains(format!("# Task: review the code of {identifier} (round"));
        let mut qa_specialist = Script::new(format!("qa-specialist-{identifier}"))
            .when_task_contains(format!("# Task: review the tests of {identifier} (round"));
        for round in 1..=rounds {
            code_reviewer = code_reviewer.then(review("request_changes", n));
            qa_specialist = qa_specialist.then(review("approve", n));
            scripts.push(
                Script::new(format!("developer-fix-{identifier}-{round}"))
                    .when_asked(format!(
                        "# Task: address the reviews of {identifier} (round {round} of"
                    ))
                    .then(call(
                        "write_file",
                        &json!({ "path": path, "content": module(n, round) }),
                    ))
                    .then(call(
                        "finish",
                        &json!({ "summary": format!("Revise rate_{n} after round {round}") }),
                    )),
            );
        }
        scripts.push(code_reviewer);
        scripts.push(qa_specialist);
        return scripts;
    }
    if behaviour == Behaviour::ChangesOnce {
        scripts.push(
            Script::new(format!("code-reviewer-{identifier}-1"))
                .when_task_contains(format!(
                    "# Task: review the code of {identifier} (round 1 of"
                ))
                .then(review("request_changes", n)),
        );
        // The comment's heading as the fix prompt shows it (a reviewer's own earlier comment
        // carries its status after the line number instead).
        scripts.push(
            Script::new(format!("developer-fix-{identifier}"))
                .when_asked(format!("### `{path}` line 4\n"))
                .then(call(
                    "write_file",
                    &json!({ "path": path, "content": module(n, 1) }),
                ))
                .then(call(
                    "finish",
                    &json!({ "summary": format!("Name the currency of rate_{n}") }),
                )),
        );
    }
    // Squads run in parallel, so a branch falls behind when another merges first; it is
    // then rebased and reviewed again. Reviewers approve every round up to the cap (after the
    // round-1 script above, once it has played its step).
    for (role, kind) in [("code-reviewer", "code"), ("qa-specialist", "tests")] {
        let mut script = Script::new(format!("{role}-{identifier}"))
            .when_task_contains(format!("# Task: review the {kind} of {identifier} (round"));
        for _ in 0..MAX_ROUNDS {
            script = script.then(review("approve", n));
        }
        scripts.push(script);
    }
    scripts
}
