//! The demo's model scripts played through the real harness, over HTTP, in a clone of the
//! sample repository: the code they write passes the repository's own tests, and the review
//! of ENG-4 goes round the fix loop as the demo promises.

use std::sync::Arc;

use squadron::demo::Scenario;
use squadron_config::{PromptName, RepoSettings};
use squadron_core::ports::Clock;
use squadron_core::{IssueKey, Review, ReviewVerdict, Role, RunId, SquadId};
use squadron_harness::{
    Budgets, CommitOutcome, Harness, QaFiles, RepoPolicy, Sandbox, SandboxMode, SandboxSettings,
    SquadWorkspace, TurnOutcome, Worktree, commit,
};
use squadron_model::{OpenAiCompatibleModel, ProviderSettings};
use squadron_standin_model::StandinModel;

use crate::support::{WallClock, agent, git, recorder, sample_checkout, sample_tests, task};

struct Rig {
    model_server: StandinModel,
    model: OpenAiCompatibleModel,
    harness: Harness,
    sandbox: Arc<Sandbox>,
}

impl Rig {
    async fn start() -> Rig {
        let book = Scenario::Milestone
            .script_book()
            .expect("the demo scripts load");
        let server = StandinModel::start(book)
            .await
            .expect("the model stand-in starts");
        let settings =
            ProviderSettings::new("openai", server.base_url()).with_api_key("sk-demo-standin");
        let model = OpenAiCompatibleModel::new(settings, Arc::new(WallClock)).expect("a model");
        let sandbox = Sandbox::detect(SandboxSettings::new(SandboxMode::Auto))
            .await
            .expect("a sandbox");
        Rig {
            model_server: server,
            model,
            harness: Harness::new(recorder(), Arc::new(WallClock)),
            sandbox: Arc::new(sandbox),
        }
    }

    fn workspace(&self, root: &std::path::Path, issue: &str) -> SquadWorkspace {
        let settings = RepoSettings::load(root).expect("the sample .squadron.toml loads");
        SquadWorkspace {
            run_id: RunId::new("run-demo"),
            squad_id: SquadId::new(format!("squad-{issue}")),
            issue: IssueKey::new(issue),
            worktree: Worktree::open(root, root.join(".git")).expect("the checkout is a worktree"),
            sandbox: Arc::clone(&self.sandbox),
            policy: Arc::new(RepoPolicy::from_settings(&settings).expect("valid test globs")),
            qa_files: QaFiles::default(),
            test_change_requests: Default::default(),
            budgets: Budgets::default(),
        }
    }

    /// The Developer and QA at the same time in the same worktree, then the commit through
    /// the test guardrail, as a squad runs them.
    async fn implement(&self, workspace: &SquadWorkspace, issue: &str) {
        let developer_task = task(PromptName::Implement, Role::Developer, issue, 1, &[]);
        let qa_task = task(PromptName::WriteTests, Role::Qa, issue, 1, &[]);
        let (developer_agent, qa_agent) = (agent(Role::Developer), agent(Role::Qa));
        let (developer, qa) = tokio::join!(
            self.harness
                .run_turn(&self.model, workspace, &developer_agent, &developer_task),
            self.harness
                .run_turn(&self.model, workspace, &qa_agent, &qa_task),
        );
        for (role, report) in [("Developer", developer), ("QA", qa)] {
            assert!(
                matches!(report.outcome, TurnOutcome::Finished { .. }),
                "{issue}: the {role} did not finish: {:?}",
                report.outcome
            );
        }
        self.commit(workspace, issue).await;
    }

    async fn commit(&self, workspace: &SquadWorkspace, issue: &str) {
        let outcome = commit(workspace, Role::Developer, issue, WallClock.now())
            .await
            .expect("the harness commits");
        assert!(
            matches!(outcome, CommitOutcome::Committed { .. }),
            "{issue}: the squad's work was not committed: {outcome:?}"
        );
    }

    async fn review(
        &self,
        workspace: &SquadWorkspace,
        issue: &str,
        role: Role,
        round: u32,
    ) -> Review {
        let name = match role {
            Role::CodeReviewer => PromptName::ReviewCode,
            _ => PromptName::ReviewTests,
        };
        let report = self
            .harness
            .run_turn(
                &self.model,
                workspace,
                &agent(role),
                &task(name, role, issue, round, &[]),
            )
            .await;
        match report.outcome {
            TurnOutcome::Reviewed(review) => review,
            other => panic!("{issue}: the {role} did not review in round {round}: {other:?}"),
        }
    }
}

/// Lands the squad's branch on `main`, as the merge queue would.
fn merge(root: &std::path::Path, branch: &str) {
    git(root, &["checkout", "--quiet", "main"]);
    git(root, &["merge", "--quiet", "--squash", branch]);
    git(
        root,
        &["commit", "--quiet", "-m", &format!("Merge {branch}")],
    );
}

#[tokio::test]
async fn the_scripted_squads_write_code_that_passes_the_sample_repository_tests() {
    let rig = Rig::start().await;
    let checkout = sample_checkout();
    let root = checkout.path();
    assert!(
        sample_tests(root).0,
        "the sample repository's tests pass before any work"
    );

    // ENG-2, then ENG-3 which it blocks and which builds on its code.
    for issue in ["ENG-2", "ENG-3"] {
        let branch = format!("eng/{}", issue.to_lowercase());
        git(root, &["checkout", "--quiet", "-b", &branch, "main"]);
        let workspace = rig.workspace(root, issue);
        rig.implement(&workspace, issue).await;
        let (passed, output) = sample_tests(root);
        assert!(passed, "{issue}: the tests fail on its branch:\n{output}");
        assert_eq!(
            git(root, &["status", "--porcelain"]),
            "",
            "{issue}: everything was committed"
        );
        for role in [Role::CodeReviewer, Role::QaSpecialist] {
            let review = rig.review(&workspace, issue, role, 1).await;
            assert_eq!(review.verdict, ReviewVerdict::Approved, "{issue}: {role}");
        }
        merge(root, &branch);
    }

    // ENG-4: changes requested in round 1, fixed, approved in round 2.
    git(root, &["checkout", "--quiet", "-b", "eng/eng-4", "main"]);
    let workspace = rig.workspace(root, "ENG-4");
    rig.implement(&workspace, "ENG-4").await;
    let first = rig.review(&workspace, "ENG-4", Role::CodeReviewer, 1).await;
    assert_eq!(first.verdict, ReviewVerdict::ChangesRequested);
    assert_eq!(
        (first.comments[0].path.as_str(), first.comments[0].line),
        ("ledger/split.py", 4),
        "the inline comment points at the undocumented function"
    );
    let head = git(root, &["show", "HEAD:ledger/split.py"]);
    assert_eq!(
        head.lines().nth(3),
        Some("def split_evenly(cents, people):")
    );
    let qa_review = rig.review(&workspace, "ENG-4", Role::QaSpecialist, 1).await;
    assert_eq!(qa_review.verdict, ReviewVerdict::Approved);

    let fix_task = task(
        PromptName::FixFromReview,
        Role::Developer,
        "ENG-4",
        1,
        &[first],
    );
    let fixed = rig
        .harness
        .run_turn(&rig.model, &workspace, &agent(Role::Developer), &fix_task)
        .await;
    assert!(
        matches!(fixed.outcome, TurnOutcome::Finished { .. }),
        "the fix round finishes: {:?}",
        fixed.outcome
    );
    rig.commit(&workspace, "ENG-4").await;
    assert!(
        git(root, &["show", "HEAD:ledger/split.py"]).contains("Return the shares of ``cents``"),
        "the fix adds the docstring the reviewer asked for"
    );
    for role in [Role::CodeReviewer, Role::QaSpecialist] {
        let review = rig.review(&workspace, "ENG-4", role, 2).await;
        assert_eq!(
            review.verdict,
            ReviewVerdict::Approved,
            "ENG-4 round 2: {role}"
        );
    }
    merge(root, "eng/eng-4");

    let (passed, output) = sample_tests(root);
    assert!(passed, "the tests fail on the merged base:\n{output}");
    assert!(
        output.contains("Ran 13 tests"),
        "every new test ran:\n{output}"
    );
    let refused: Vec<_> = rig
        .model_server
        .requests()
        .into_iter()
        .filter_map(|request| request.refused)
        .collect();
    assert_eq!(
        refused,
        Vec::<String>::new(),
        "every request found its script"
    );
}

#[tokio::test]
async fn the_new_tests_fail_on_the_base_commit() {
    let rig = Rig::start().await;
    let checkout = sample_checkout();
    let root = checkout.path();
    git(root, &["checkout", "--quiet", "-b", "eng/eng-2", "main"]);
    let workspace = rig.workspace(root, "ENG-2");
    rig.implement(&workspace, "ENG-2").await;

    // Put the base's code back under the new tests: they must fail for want of the feature.
    std::fs::remove_file(root.join("ledger/totals.py")).expect("remove the implementation");
    let (passed, output) = sample_tests(root);
    assert!(
        !passed,
        "QA's tests pass without the implementation:\n{output}"
    );
    assert!(
        output.contains("No module named 'ledger.totals'"),
        "{output}"
    );
}
