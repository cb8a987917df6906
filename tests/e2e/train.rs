//! The merge train tests the lane holder's merge result before merging: two squads of one
//! base whose heads each pass the tests alone, but whose changes together break a test the
//! base holds. The one that merges first merges as it is; the second's head merged with the
//! moved base fails in a scratch checkout, so it is not merged: its branch is rebased, the
//! Developer is handed the failure, fixes it, and both reviewers review the changed patch
//! before it merges.

use squadron::demo::generated::{Behaviour, milestone_of};
use squadron::demo::{DemoLimits, SAMPLE_REPO};
use squadron_standin_model::{Action, Reply, Script, ScriptBook, ScriptedToolCall};

use crate::support::{Rig, describe};

/// A test on the base that only two rate modules together can fail: every one but the
/// first (by name) must name its currency.
const CURRENCY_TEST: &str = r#""""Rate modules after the first name their currency."""

import pathlib
import unittest


class CurrencyTest(unittest.TestCase):
    def test_every_rate_module_but_the_first_names_its_currency(self):
        modules = sorted(pathlib.Path("ledger").glob("rate_*.py"))
        for module in modules[1:]:
            self.assertIn("currency", module.read_text(), f"{module.name} does not name its currency")
"#;

/// The failure the merge of both squads' changes shows.
const FAILURE: &str = "rate_2.py does not name its currency";

/// `ledger/rate_2.py` naming its currency.
const FIXED_RATE_2: &str = "\"\"\"The rate of plan 2.\"\"\"\n\n\ndef rate_2():\n    \"\"\"Return the monthly rate of plan 2, in integer cents of the plan's currency.\"\"\"\n    return 200\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_passes_alone_but_fails_merged_with_the_moved_base_is_fixed_before_it_merges() {
    let mut seed = milestone_of(&[Behaviour::Approve, Behaviour::Approve]);
    // The fix goes first: the Developer is asked it in its implementing conversation, which
    // the implementing script would match too.
    let fix = Script::new("developer-merge-fix")
        .when_asked(FAILURE)
        .then(call(
            "write_file",
            serde_json::json!({ "path": "ledger/rate_2.py", "content": FIXED_RATE_2 }),
        ))
        .then(call(
            "finish",
            serde_json::json!({ "summary": "Name the currency of plan 2" }),
        ));
    seed.scripts = seed
        .scripts
        .scripts()
        .iter()
        .cloned()
        .fold(ScriptBook::new().with(fix), ScriptBook::with);
    let rig = Rig::start(seed, DemoLimits::default()).await;
    rig.world
        .github
        .commit_files(
            SAMPLE_REPO,
            "main",
            &[("tests/test_currency.py", CURRENCY_TEST)],
            "Require rate modules to name their currency",
        )
        .expect("commit the base's test");

    let output = rig.run(&[]).await;

    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let pulls = rig.pulls();
    assert_eq!(pulls.len(), 2);
    assert!(pulls.iter().all(|pull| pull.merged), "{pulls:#?}");
    let merges = rig.world.github.merges(SAMPLE_REPO).expect("merges");
    assert_eq!(merges.len(), 2, "each PR merged once: {merges:#?}");
    let merge_calls = rig
        .world
        .github
        .requests()
        .expect("requests")
        .into_iter()
        .filter(|request| request.method == "PUT" && request.path.ends_with("/merge"))
        .count();
    assert_eq!(
        merge_calls, 2,
        "the failing merge result was never sent to GitHub"
    );
    let main = |path: &str| {
        rig.world
            .github
            .file_at(SAMPLE_REPO, "main", path)
            .expect("main resolves")
            .unwrap_or_default()
    };
    assert_eq!(main("ledger/rate_2.py"), FIXED_RATE_2, "the fix merged");

    let fixes: Vec<String> = rig
        .world
        .model
        .requests()
        .into_iter()
        .filter(|request| request.script.as_deref() == Some("developer-merge-fix"))
        .map(|request| request.raw_body)
        .collect();
    assert_eq!(fixes.len(), 2, "one fix turn: write, then finish");
    assert!(
        fixes[0].contains("moved on since: the branch was rebased onto it"),
        "the Developer is told the base moved: {}",
        fixes[0]
    );

    // The squad that merged second was fixed: its reviewers read the changed patch again.
    let second = merges[1].number;
    let reviews = rig
        .world
        .github
        .reviews(SAMPLE_REPO, second)
        .expect("reviews");
    assert_eq!(
        reviews.len(),
        4,
        "both models reviewed the first head and the fixed one: {reviews:#?}"
    );
    assert!(
        reviews
            .iter()
            .all(|review| !review.body.starts_with("Approval renewed")),
        "a changed patch is never renewed without a review: {reviews:#?}"
    );
    let first = merges[0].number;
    assert_eq!(
        rig.world
            .github
            .reviews(SAMPLE_REPO, first)
            .expect("reviews")
            .len(),
        2,
        "the first PR merged on its first approvals"
    );
}

fn call(name: &str, arguments: serde_json::Value) -> Action {
    Action::Reply(Reply::tool_calls([ScriptedToolCall::new(name, &arguments)]))
}
