//! The guardrails and tools on the shipped sample repositories with the real toolchains, in
//! the sandbox: cargo, rustfmt and clippy on the Rust crate, `node --test` and `node --check`
//! on the JavaScript package, unittest and `py_compile` on the Python package.
//!
//! A toolchain that is missing fails the test with what to install: CI has Rust, Node 20 and
//! Python 3, so these always run there.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use squadron_config::{Env, HostEnvironment, RepoSettings, SYSTEM_PATH};
use squadron_core::{IssueKey, Role, RunId, SquadId};
use squadron_harness::{
    Budgets, Executed, QaFiles, RepoPolicy, Sandbox, SandboxMode, SandboxSettings, SquadWorkspace,
    TestChangeRequests, ToolName, ToolRegistry, Worktree, WriteScope, repository_sandbox,
};

use crate::support::{call, git, run};

/// The shipped sample `name`, copied into a fresh git repository.
pub fn sample(name: &str) -> tempfile::TempDir {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/samples")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&source, dir.path());
    git(dir.path(), &["init", "--quiet"]);
    git(dir.path(), &["add", "--all"]);
    git(dir.path(), &["commit", "--quiet", "-m", "Initial commit"]);
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// This machine as the daemon would offer it to a repository: its `HOME` and `PATH`.
pub fn host() -> HostEnvironment {
    let mut env = Env::new();
    for name in ["HOME", "PATH"] {
        if let Ok(value) = std::env::var(name) {
            env = env.with(name, value);
        }
    }
    HostEnvironment {
        env,
        default_path: SYSTEM_PATH.to_owned(),
        reserved_variables: BTreeSet::new(),
        reserved_dirs: Vec::new(),
    }
}

/// Fails the test, saying what to install, when `program` is not on this machine's `PATH`.
pub fn require(program: &str, toolchain: &str) {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .any(|dir| Path::new(dir).join(program).is_file());
    assert!(
        found,
        "this test needs `{program}` on PATH ({toolchain}); install it to run the test: it is not skipped"
    );
}

/// The sample's squad workspace, with the sandbox its `.squadron.toml` asks for.
async fn workspace(root: &Path) -> (SquadWorkspace, RepoSettings) {
    let settings = RepoSettings::load_with(root, &host()).unwrap();
    // As a squad gets it: the repository's variables and its toolchain mounts, which are
    // all of the home directory its commands see.
    let sandbox = repository_sandbox(
        &SandboxSettings::new(SandboxMode::Auto),
        &settings.sandbox,
        None,
    )
    .unwrap();
    let workspace = SquadWorkspace {
        run_id: RunId::new("run-1"),
        squad_id: SquadId::new("squad-1"),
        issue: IssueKey::new("ENG-7"),
        worktree: Worktree::open(root, root.join(".git")).unwrap(),
        sandbox: Arc::new(Sandbox::detect(sandbox).await.unwrap()),
        policy: Arc::new(RepoPolicy::from_settings(&settings).unwrap()),
        qa_files: QaFiles::default(),
        test_change_requests: TestChangeRequests::default(),
        budgets: Budgets::default(),
    };
    (workspace, settings)
}

fn writer() -> ToolRegistry {
    ToolRegistry::new(
        Role::Developer,
        &[
            ToolName::WriteFile,
            ToolName::EditFile,
            ToolName::RunTests,
            ToolName::Finish,
        ],
        WriteScope::Anything,
    )
}

fn read(root: &Path, relative: &str) -> String {
    std::fs::read_to_string(root.join(relative)).unwrap()
}

fn home_path(relative: &str) -> PathBuf {
    Path::new(&std::env::var("HOME").unwrap()).join(relative)
}

#[tokio::test]
async fn the_rust_crate_is_formatted_by_rustfmt_linted_by_clippy_and_tested_by_cargo() {
    for program in ["cargo", "rustfmt", "cargo-clippy"] {
        require(
            program,
            "the Rust toolchain: rustup with the rustfmt and clippy components",
        );
    }
    let repo = sample("rust-crate");
    let root = repo.path();
    let (workspace, settings) = workspace(root).await;
    assert_eq!(
        settings.format.as_ref().map(ToString::to_string).as_deref(),
        Some("rustfmt --edition 2021 {file}")
    );
    assert_eq!(
        settings.sandbox.mounts,
        [home_path(".rustup"), home_path(".cargo")]
    );
    let developer = writer();

    // Free shipping from 50 EUR on, written badly formatted and with a needless `return`.
    let (content, is_error) = run(
        &developer,
        &workspace,
        "edit_file",
        json!({"path": "src/lib.rs", "edits": [
            {"old": "/// What shipping costs below any threshold.", "new": "/// Orders worth this much or more ship for free.\npub const FREE_SHIPPING_FROM: Cents = 5_000;\n\n/// What shipping costs below any threshold."},
            {"old": "    let _ = total;\n    STANDARD_SHIPPING", "new": "  if total >= FREE_SHIPPING_FROM { return 0; }\n    return STANDARD_SHIPPING;"}
        ]}),
    )
    .await;
    assert!(!is_error, "{content}");
    assert!(
        content.contains("formatter (`rustfmt --edition 2021 src/lib.rs`): ok"),
        "{content}"
    );
    assert!(
        content.contains("The formatter changed `src/lib.rs`"),
        "{content}"
    );
    assert!(
        read(root, "src/lib.rs")
            .contains("    if total >= FREE_SHIPPING_FROM {\n        return 0;\n    }\n"),
        "{}",
        read(root, "src/lib.rs")
    );
    // Clippy checks the whole crate: the edit tools' description says it runs at `finish`.
    assert!(!content.contains("clippy"), "{content}");
    let specs = developer.specs_for(&workspace.policy, true);
    let edit = specs
        .iter()
        .find(|spec| spec.name == "edit_file")
        .expect("edit_file");
    assert!(
        edit.description
            .contains("so it runs once when you call `finish`, not after each write"),
        "{}",
        edit.description
    );

    // Clippy runs once before the turn ends and finds the needless return.
    let finish = || {
        call(
            "f",
            "finish",
            json!({"summary": "Free shipping from 50 EUR."}),
        )
    };
    let Executed::Output { content, is_error } = developer.execute(&workspace, &finish()).await
    else {
        panic!("the turn ended without clippy's findings");
    };
    assert!(is_error, "{content}");
    assert!(
        content.contains("needless_return") || content.contains("unneeded `return`"),
        "{content}"
    );
    let (content, is_error) = run(
        &developer,
        &workspace,
        "edit_file",
        json!({"path": "src/lib.rs", "old": "    return STANDARD_SHIPPING;", "new": "    STANDARD_SHIPPING"}),
    )
    .await;
    assert!(!is_error, "{content}");
    assert!(matches!(
        developer.execute(&workspace, &finish()).await,
        Executed::Terminal(_)
    ));

    // QA's test, narrowed to by name, then the whole suite.
    std::fs::write(
        root.join("tests/free_shipping.rs"),
        "use shipping::shipping_cost;\n\n// AC-1\n#[test]\nfn an_order_of_50_eur_ships_for_free() {\n    assert_eq!(shipping_cost(5_000), 0);\n}\n",
    )
    .unwrap();
    let (content, is_error) = run(
        &developer,
        &workspace,
        "run_tests",
        json!({"selector": "an_order_of_50_eur_ships_for_free"}),
    )
    .await;
    assert!(!is_error && content.contains("passed"), "{content}");
    assert!(
        content.contains("test an_order_of_50_eur_ships_for_free ... ok"),
        "{content}"
    );
    assert!(
        !content.contains("a_small_order_pays_standard_shipping"),
        "{content}"
    );
    let (content, _) = run(&developer, &workspace, "run_tests", json!({})).await;
    assert!(content.contains("`cargo test` passed"), "{content}");
    assert!(
        content.contains("a_small_order_pays_standard_shipping ... ok"),
        "{content}"
    );
}

#[tokio::test]
async fn the_javascript_package_is_checked_by_node_and_tested_with_node_test() {
    require("node", "Node.js 20 or later");
    require("npm", "Node.js 20 or later, with npm");
    let repo = sample("js-package");
    let root = repo.path();
    let (workspace, _) = workspace(root).await;
    let developer = writer();

    let (content, _) = run(
        &developer,
        &workspace,
        "write_file",
        json!({"path": "src/discount.js", "content": "'use strict';\n\nfunction discounted(total, percent) {\n  return total - Math.round((total * percent) / 100;\n}\n\nmodule.exports = { discounted };\n"}),
    )
    .await;
    assert!(
        content.contains("linter (`node --check src/discount.js`): FAILED"),
        "{content}"
    );
    assert!(content.contains("SyntaxError"), "{content}");
    let (content, _) = run(
        &developer,
        &workspace,
        "edit_file",
        json!({"path": "src/discount.js", "old": "100;", "new": "100);"}),
    )
    .await;
    assert!(
        content.contains("linter (`node --check src/discount.js`): ok"),
        "{content}"
    );
    let (content, _) = run(
        &developer,
        &workspace,
        "write_file",
        json!({"path": "README.md", "content": "# cart\n"}),
    )
    .await;
    assert!(
        content.contains("linter: not run (it checks .js, .cjs, .mjs files)"),
        "{content}"
    );

    std::fs::write(
        root.join("test/discount.test.js"),
        "'use strict';\n\nconst test = require('node:test');\nconst assert = require('node:assert/strict');\nconst { discounted } = require('../src/discount');\n\ntest('AC-1: ten percent off', () => {\n  assert.equal(discounted(1000, 10), 900);\n});\n",
    )
    .unwrap();
    let (content, is_error) = run(
        &developer,
        &workspace,
        "run_tests",
        json!({"selector": "test/discount.test.js"}),
    )
    .await;
    assert!(!is_error, "{content}");
    assert!(
        content.contains("`node --test test/discount.test.js` passed"),
        "{content}"
    );
    assert!(content.contains("AC-1: ten percent off"), "{content}");
    assert!(
        !content.contains("the total adds price times quantity"),
        "{content}"
    );
    let (content, _) = run(&developer, &workspace, "run_tests", json!({})).await;
    assert!(content.contains("`npm test` passed"), "{content}");
    assert!(
        content.contains("the total adds price times quantity"),
        "{content}"
    );
}

#[tokio::test]
async fn the_python_package_is_compiled_on_write_and_tested_with_unittest() {
    require("python3", "Python 3");
    let repo = sample("python-package");
    let root = repo.path();
    let (workspace, settings) = workspace(root).await;
    assert_eq!(settings.test.to_string(), "python3 -m unittest");
    let developer = writer();

    let (content, _) = run(
        &developer,
        &workspace,
        "edit_file",
        json!({"path": "inventory/stock.py", "old": "        return self._units.get(code, 0)\n", "new": "        return self._units.get(code, 0)\n\n    def remove(self, code, units)\n        \"\"\"Takes `units` of product `code` off the shelf.\"\"\"\n"}),
    )
    .await;
    assert!(
        content.contains("linter (`python3 -m py_compile inventory/stock.py`): FAILED"),
        "{content}"
    );
    let (content, _) = run(
        &developer,
        &workspace,
        "edit_file",
        json!({"path": "inventory/stock.py", "old": "    def remove(self, code, units)\n        \"\"\"Takes `units` of product `code` off the shelf.\"\"\"\n", "new": "    def remove(self, code, units):\n        \"\"\"Takes `units` of product `code` off the shelf.\"\"\"\n        self._units[code] = self.units(code) - units\n"}),
    )
    .await;
    assert!(
        content.contains("linter (`python3 -m py_compile inventory/stock.py`): ok"),
        "{content}"
    );

    std::fs::write(
        root.join("tests/test_removing.py"),
        "import unittest\n\nfrom inventory.stock import Stock\n\n\nclass RemovingStock(unittest.TestCase):\n    def test_ac_1_removed_units_are_subtracted(self):\n        stock = Stock()\n        stock.add(\"tea\", 5)\n        stock.remove(\"tea\", 2)\n        self.assertEqual(stock.units(\"tea\"), 3)\n",
    )
    .unwrap();
    let (content, is_error) = run(
        &developer,
        &workspace,
        "run_tests",
        json!({"selector": "tests.test_removing"}),
    )
    .await;
    assert!(!is_error, "{content}");
    assert!(
        content.contains("`python3 -m unittest tests.test_removing` passed"),
        "{content}"
    );
    assert!(content.contains("Ran 1 test"), "{content}");
    let (content, _) = run(&developer, &workspace, "run_tests", json!({})).await;
    assert!(
        content.contains("`python3 -m unittest` passed"),
        "{content}"
    );
    assert!(content.contains("Ran 2 tests"), "{content}");
    // Neither the linter nor the tests left compiled files in the worktree.
    assert_eq!(
        git(root, &["status", "--porcelain", "--ignored"])
            .lines()
            .filter(|line| line.contains("__pycache__"))
            .count(),
        0
    );
}
