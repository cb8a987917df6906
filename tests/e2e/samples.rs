//! Squads on the sample repositories of `tests/samples`, scripted as the demo's are but on
//! each repository's real toolchain: the Developer edits the code (formatted and linted by the
//! repository's own tools after the write), QA adds a test, the test command runs before the
//! commit, the new test fails on the base and passes on the head, and both reviewers
//! approve the merged head. A toolchain these tests need and cannot find fails them, saying which.

use std::path::{Path, PathBuf};

use serde_json::json;
use squadron::demo::{DemoLimits, IDENTITIES, WorldSeed};
use squadron_standin_linear::{IssueSpec, Workspace};
use squadron_standin_model::{Action, Reply, Script, ScriptBook, ScriptedToolCall};

use crate::support::{Rig, describe};

/// One sample squad: the repository, the issue and what each writer does.
struct Sample {
    /// Directory under `tests/samples`.
    dir: &'static str,
    /// Programs its test command, formatter and linter run.
    toolchain: &'static [&'static str],
    /// The Developer's `edit_file` arguments.
    edit: serde_json::Value,
    /// The test file QA writes, and its content.
    test: (&'static str, &'static str),
    /// A file and a text the merged base must hold, showing the formatter ran where the
    /// repository has one.
    merged: (&'static str, &'static str),
}

const SCENARIO: &str = "```gherkin\nScenario: The change works\n  Given the package\n  When the new behaviour runs\n  Then it gives the expected answer\n```\n";

/// The samples' own directory in this checkout.
fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/samples")
}

/// Every file of sample `dir` (dotfiles included), as (relative path, contents).
fn sample_files(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("read a sample directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).expect("inside the sample");
                let contents = std::fs::read_to_string(&path).expect("a text file");
                files.push((relative.display().to_string(), contents));
            }
        }
    }
    files.sort();
    files
}

/// Fails naming every program of `toolchain` this machine's `PATH` lacks.
fn require(sample: &str, toolchain: &[&str]) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing: Vec<&str> = toolchain
        .iter()
        .copied()
        .filter(|program| !std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .collect();
    assert!(
        missing.is_empty(),
        "the {sample} sample squad needs {missing:?} on PATH to run its real toolchain; install \
         them (scripts/test names what CI installs) — this test does not pass without them"
    );
}

fn call(name: &str, arguments: &serde_json::Value) -> Action {
    Action::Reply(Reply::tool_calls([ScriptedToolCall::new(name, arguments)]))
}

/// A milestone of one issue on the sample, with scripts for every role.
fn seed(sample: &Sample) -> WorldSeed {
    let mut workspace = Workspace::new("acme");
    workspace.add_team("ENG", "Engineering");
    let project = workspace.add_project("Samples", "5a3b1e5a3b1e");
    let milestone = workspace.add_milestone(&project, "Next", 1.0, "next");
    let identifier = workspace.add_issue(
        IssueSpec::new("ENG", &format!("Extend the {} sample", sample.dir))
            .description(&format!("Extend the package.\n\n{SCENARIO}"))
            .estimate(1.0)
            .milestone(&milestone),
    );
    let (test_path, test_text) = sample.test;
    let mut scripts = ScriptBook::new()
        .with(
            Script::new("developer")
                .when_task_contains(format!("# Task: implement {identifier}\n"))
                .then(call("edit_file", &sample.edit))
                .then(call(
                    "finish",
                    &json!({ "summary": "Implemented the change." }),
                )),
        )
        .with(
            Script::new("qa")
                .when_task_contains(format!("# Task: write the tests for {identifier}\n"))
                .then(call(
                    "write_file",
                    &json!({ "path": test_path, "content": test_text }),
                ))
                .then(call(
                    "finish",
                    &json!({ "summary": format!("AC-1: {test_path}") }),
                )),
        );
    for (role, kind) in [("code-reviewer", "code"), ("qa-specialist", "tests")] {
        scripts = scripts.with(
            Script::new(role)
                .when_task_contains(format!("# Task: review the {kind} of {identifier} (round"))
                .then(call(
                    "submit_review",
                    &json!({ "verdict": "approve", "summary": "Right and tested.", "comments": [] }),
                )),
        );
    }
    WorldSeed {
        workspace,
        scripts,
        project_url: "https://linear.app/acme/project/samples-5a3b1e5a3b1e/overview".to_owned(),
    }
}

/// Runs the sample's squad to its merge and checks what reached the base branch.
async fn merges_with_both_approvals(sample: Sample) {
    require(sample.dir, sample.toolchain);
    let slug = format!("acme/{}", sample.dir);
    let files = sample_files(&samples_dir().join(sample.dir));
    let rig = Rig::start(seed(&sample), DemoLimits::default()).await;
    rig.use_repository(&slug, &files);
    // The Rust sample's build directory is a repository cache: shared by every run of this
    // test, so only the first one compiles from scratch.
    let shared = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("sample-caches")
        .join(sample.dir);
    std::fs::create_dir_all(&shared).expect("create the shared cache");
    let caches = rig.dir().join("caches/acme");
    std::fs::create_dir_all(&caches).expect("create the cache root");
    std::os::unix::fs::symlink(&shared, caches.join(sample.dir)).expect("link the shared cache");
    // The samples' `.squadron.toml` name toolchain paths under the home directory.
    let home = std::env::var("HOME").unwrap_or_default();

    let output = rig.run(&[("HOME", home.as_str())]).await;

    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    // The evidence ran QA's test with the real test command: failing on the base, passing on
    // the head.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let evidence: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| entry["fields"]["message"] == "test evidence gathered")
        .collect();
    assert!(
        !evidence.is_empty()
            && evidence
                .iter()
                .all(|entry| entry["fields"]["convincing"] == true),
        "{evidence:?}\n{}",
        describe(&output)
    );
    let github = &rig.world.github;
    let pulls = github.pulls(&slug).expect("the sample repository exists");
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert!(pulls[0].merged, "{:?}", pulls[0]);
    let reviews = github.reviews(&slug, pulls[0].number).expect("reviews");
    let mut approvers: Vec<&str> = reviews
        .iter()
        .filter(|review| review.state == "APPROVED" && review.commit_id == pulls[0].head_sha)
        .map(|review| review.user.as_str())
        .collect();
    approvers.sort_unstable();
    assert_eq!(
        approvers,
        [IDENTITIES[1].login, IDENTITIES[2].login],
        "both reviewers approved the merged head"
    );
    let (path, text) = sample.merged;
    let merged = github
        .file_at(&slug, "main", path)
        .expect("main resolves")
        .unwrap_or_default();
    assert!(merged.contains(text), "{path} on main:\n{merged}");
    let (test_path, _) = sample.test;
    assert!(
        github
            .file_at(&slug, "main", test_path)
            .expect("main resolves")
            .is_some(),
        "QA's test is on main"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_crate_squad_formats_lints_tests_and_merges() {
    merges_with_both_approvals(Sample {
        dir: "rust-crate",
        toolchain: &["cargo", "rustfmt", "cargo-clippy"],
        // Written unformatted: rustfmt puts it right after the write.
        edit: json!({ "path": "src/lib.rs", "edits": [
            { "old": "/// The shipping cost", "new": "/// From this order value on, shipping is free.\npub const FREE_SHIPPING_FROM: Cents = 5_000;\n\n/// The shipping cost" },
            { "old": "    let _ = total;\n    STANDARD_SHIPPING\n", "new": "    if total>=FREE_SHIPPING_FROM {0} else {STANDARD_SHIPPING}\n" },
        ]}),
        test: (
            "tests/free_shipping.rs",
            "use shipping::shipping_cost;\n\n/// AC-1\n#[test]\nfn an_order_of_fifty_euros_ships_free() {\n    assert_eq!(shipping_cost(5_000), 0);\n}\n",
        ),
        merged: (
            "src/lib.rs",
            "    if total >= FREE_SHIPPING_FROM {\n        0\n    } else {\n        STANDARD_SHIPPING\n    }\n",
        ),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_package_squad_checks_tests_with_node_and_merges() {
    merges_with_both_approvals(Sample {
        dir: "js-package",
        toolchain: &["node"],
        edit: json!({
            "path": "src/cart.js",
            "old": "module.exports = { total };",
            "new": "/** How many units a cart holds. */\nfunction itemCount(items) {\n  return items.reduce((sum, item) => sum + item.quantity, 0);\n}\n\nmodule.exports = { total, itemCount };",
        }),
        test: (
            "test/item_count.test.js",
            "'use strict';\n\nconst test = require('node:test');\nconst assert = require('node:assert/strict');\nconst { itemCount } = require('../src/cart');\n\n// AC-1\ntest('the item count adds the quantities', () => {\n  assert.equal(itemCount([{ price: 250, quantity: 2 }, { price: 100, quantity: 3 }]), 5);\n});\n",
        ),
        merged: ("src/cart.js", "module.exports = { total, itemCount };"),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_package_squad_tests_with_unittest_and_merges() {
    merges_with_both_approvals(Sample {
        dir: "python-package",
        toolchain: &["python3"],
        edit: json!({
            "path": "inventory/stock.py",
            "old": "    def units(self, code):",
            "new": "    def total_units(self):\n        \"\"\"How many units of all products are on the shelf.\"\"\"\n        return sum(self._units.values())\n\n    def units(self, code):",
        }),
        test: (
            "tests/test_total_units.py",
            "import unittest\n\nfrom inventory.stock import Stock\n\n\nclass TotalUnits(unittest.TestCase):\n    def test_ac1_units_of_every_product_add_up(self):\n        \"\"\"AC-1\"\"\"\n        stock = Stock()\n        stock.add(\"tea\", 3)\n        stock.add(\"coffee\", 2)\n        self.assertEqual(stock.total_units(), 5)\n\n\nif __name__ == \"__main__\":\n    unittest.main()\n",
        ),
        merged: ("inventory/stock.py", "    def total_units(self):"),
    })
    .await;
}
