//! The values prompt templates are rendered with. Every piece of outside text is an
//! [`Untrusted`] field, so templates print it fenced whatever they do.

use serde::Serialize;

use crate::fence::{Guidance, Untrusted};
use crate::instructions::ProjectInstructions;

/// Context of the `system` template: the agent's standing instructions and the repository.
#[derive(Clone, Debug, Serialize)]
pub struct SystemContext {
    /// The agent.
    pub agent: AgentContext,
    /// The repository it works in.
    pub repository: RepositoryContext,
    /// The repository's guidance shown in full or in part (`AGENTS.md`, `CLAUDE.md`, nested
    /// `AGENTS.md`, the docs of `.squadron.toml`), most general first.
    pub docs: Vec<DocContext>,
    /// Guidance left out for size.
    pub docs_left_out: Vec<LeftOutContext>,
    /// Nested instruction files that apply to other directories, to read before changing
    /// files there.
    pub guidance_elsewhere: Vec<String>,
    /// The size cap of the guidance, in bytes.
    pub docs_cap_bytes: usize,
}

/// The agent a system prompt is for.
#[derive(Clone, Debug, Serialize)]
pub struct AgentContext {
    /// Role name (`code-reviewer`).
    pub role: String,
    /// The agent file's body.
    pub instructions: String,
    /// Names of its tools.
    pub tools: Vec<String>,
    /// Name of the tool that ends its task.
    pub terminal_tool: String,
}

/// A document of the repository's guidance loaded into the system prompt.
#[derive(Clone, Debug, Serialize)]
pub struct DocContext {
    /// Path inside the repository.
    pub path: String,
    /// Its contents (or first part), fenced as guidance.
    pub text: Guidance,
    /// The document's whole size in bytes, when only its first part is shown.
    pub cut_from: Option<u64>,
}

/// A guidance document left out for size.
#[derive(Clone, Debug, Serialize)]
pub struct LeftOutContext {
    /// Path inside the repository.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
}

impl SystemContext {
    /// Sets the guidance part of the context from `instructions`.
    pub fn with_instructions(mut self, instructions: &ProjectInstructions) -> SystemContext {
        self.docs = instructions
            .documents
            .iter()
            .map(|document| DocContext {
                path: document.path.clone(),
                text: Guidance::new(document.path.clone(), document.text.clone()),
                cut_from: document.cut_from,
            })
            .collect();
        self.docs_left_out = instructions
            .left_out
            .iter()
            .map(|left_out| LeftOutContext {
                path: left_out.path.clone(),
                bytes: left_out.bytes,
            })
            .collect();
        self.guidance_elsewhere = instructions.elsewhere.clone();
        self.docs_cap_bytes = instructions.cap_bytes;
        self
    }
}

/// Context of every task template (`implement`, `write-tests`, `review-code`, `review-tests`,
/// `fix-from-review`, `diagnose`). Fields a task does not use may stay empty.
#[derive(Clone, Debug, Serialize)]
pub struct TaskContext {
    /// Role doing the task (`developer`).
    pub role: String,
    /// The issue.
    pub issue: IssueContext,
    /// The repository and the squad's branch.
    pub repository: RepositoryContext,
    /// Review round, from 1.
    pub round: u32,
    /// Review rounds allowed before a human takes over.
    pub max_rounds: u32,
    /// Reviews to address (`fix-from-review`).
    pub reviews: Vec<ReviewContext>,
    /// The reviewer's own review of an earlier round and what changed since (`review-code`,
    /// `review-tests` from round 2), so it checks its findings instead of starting afresh.
    pub previous_review: Option<PreviousReviewContext>,
    /// The diagnosis a bug fix follows, if any.
    pub diagnosis: Option<DiagnosisContext>,
    /// Fail-on-base / pass-on-head results (`review-tests`).
    pub evidence: Option<EvidenceContext>,
    /// The Developer's `finish` summary, for the reviewers.
    pub developer_summary: Option<Untrusted>,
    /// QA's `finish` summary, for the reviewers.
    pub qa_summary: Option<Untrusted>,
    /// The conflicts to resolve (`resolve-conflicts`).
    pub conflict: Option<ConflictContext>,
    /// The required checks failing on the PR (`fix-checks`).
    pub checks: Option<ChecksContext>,
    /// The merge a revert squad takes back (`review-code`, `review-tests`), if it is one.
    pub revert: Option<RevertContext>,
}

/// A CI-fix round: the required checks failing on the PR's pushed head.
#[derive(Clone, Debug, Serialize)]
pub struct ChecksContext {
    /// The CI-fix round, from 1.
    pub round: u32,
    /// Rounds allowed before a human takes over.
    pub max_rounds: u32,
    /// The pushed head the checks ran on, short.
    pub head_sha: String,
    /// The checks failing there; empty when they pass by now.
    pub checks: Vec<FailedCheckContext>,
}

/// One required check failing on the head.
#[derive(Clone, Debug, Serialize)]
pub struct FailedCheckContext {
    /// Its name (`test`).
    pub name: String,
    /// How it ended (`failure`, `timed_out`, …).
    pub outcome: String,
    /// The commit it ran on, short.
    pub commit: String,
    /// Its page on the code host, when known.
    pub details_url: Option<String>,
    /// What it reported (title, summary, text) and its annotations, when any.
    pub output: Option<Untrusted>,
    /// An excerpt of its job's log (ANSI codes stripped, trimmed around the first errors and
    /// the tail, capped), when the host has one.
    pub log: Option<Untrusted>,
}

/// What a revert squad's PR takes back, and why: its reviewers review the revert, not the
/// issue's change.
#[derive(Clone, Debug, Serialize)]
pub struct RevertContext {
    /// The merge commit the PR reverts.
    pub merge_sha: String,
    /// The reverted change's PR page, when known.
    pub pr_url: Option<String>,
    /// Why it is reverted, as the person who asked wrote it.
    pub reason: Option<Untrusted>,
    /// Who asked for the revert (a Slack user or `cli`).
    pub requested_by: String,
}

/// A branch that no longer rebases onto its base: its change sits uncommitted on the base's
/// tip with conflict markers where both changed the same lines.
#[derive(Clone, Debug, Serialize)]
pub struct ConflictContext {
    /// The conflict-resolution round, from 1.
    pub round: u32,
    /// Rounds allowed before a human takes over.
    pub max_rounds: u32,
    /// The base tip the branch now sits on.
    pub base_sha: String,
    /// The files with conflicts.
    pub files: Vec<ConflictFileContext>,
    /// The other squads' PRs that landed on the base since the branch forked: the base
    /// side's intent.
    pub landed: Vec<LandedContext>,
}

/// One conflicting file.
#[derive(Clone, Debug, Serialize)]
pub struct ConflictFileContext {
    /// Its path.
    pub path: String,
    /// Whether it is a test file (QA's to resolve).
    pub test_file: bool,
    /// Its conflicting regions with their markers and a few lines around them, capped.
    pub excerpt: Untrusted,
}

/// Another squad's PR merged into the base.
#[derive(Clone, Debug, Serialize)]
pub struct LandedContext {
    /// Its issue (`ENG-41`).
    pub issue: String,
    /// The PR's page, when known.
    pub pr_url: Option<String>,
    /// The issue's title.
    pub title: Untrusted,
    /// The issue's description, capped.
    pub description: Untrusted,
}

/// The issue being worked.
#[derive(Clone, Debug, Serialize)]
pub struct IssueContext {
    /// Linear identifier (`ENG-123`).
    pub identifier: String,
    /// Link to the issue.
    pub url: String,
    /// Its title.
    pub title: Untrusted,
    /// Its Markdown description.
    pub description: Untrusted,
    /// Its acceptance scenarios with stable ids.
    pub scenarios: Vec<ScenarioContext>,
}

/// One acceptance scenario.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioContext {
    /// Stable id (`AC-1`).
    pub id: String,
    /// The scenario as written: `Scenario:` line and steps.
    pub text: Untrusted,
}

/// The repository and the squad's place in it.
#[derive(Clone, Debug, Serialize)]
pub struct RepositoryContext {
    /// `owner/repo`.
    pub github: String,
    /// Branch pull requests target.
    pub base_branch: String,
    /// The squad's branch.
    pub branch: String,
    /// Commit the branch started from, once known.
    pub base_sha: Option<String>,
    /// Commit under review, once known.
    pub head_sha: Option<String>,
    /// The test command, as shown to agents.
    pub test_command: String,
    /// Globs of test files.
    pub test_globs: Vec<String>,
}

/// One reviewer's review to address.
#[derive(Clone, Debug, Serialize)]
pub struct ReviewContext {
    /// Reviewer role (`code-reviewer`, `qa-specialist`).
    pub reviewer: String,
    /// `approved` or `changes_requested`.
    pub verdict: String,
    /// The review's body.
    pub body: Untrusted,
    /// Line comments.
    pub comments: Vec<ReviewCommentContext>,
}

/// A comment on a line of the diff.
#[derive(Clone, Debug, Serialize)]
pub struct ReviewCommentContext {
    /// File path.
    pub path: String,
    /// Line in the new file, when anchored on one.
    pub line: Option<u32>,
    /// The comment.
    pub body: Untrusted,
}

/// A reviewer's own review of an earlier round, with what changed since the commit it
/// reviewed.
#[derive(Clone, Debug, Serialize)]
pub struct PreviousReviewContext {
    /// The round it was given in.
    pub round: u32,
    /// `approved` or `changes_requested`.
    pub verdict: String,
    /// The commit it reviewed.
    pub commit: String,
    /// Its body.
    pub body: Untrusted,
    /// Its line comments, each marked addressed or not.
    pub comments: Vec<PreviousCommentContext>,
    /// Files changed since the reviewed commit.
    pub changed_files: Vec<String>,
    /// The diff from the reviewed commit to the head (capped); `None` when it could not be
    /// read.
    pub diff: Option<Untrusted>,
    /// Whether the diff was cut at the cap.
    pub diff_cut: bool,
    /// Whether the new tests' outcomes on base and head are those the reviewer was shown
    /// last time (`review-again` then leaves their failure output out).
    pub evidence_unchanged: bool,
}

/// A line comment of a reviewer's earlier review.
#[derive(Clone, Debug, Serialize)]
pub struct PreviousCommentContext {
    /// File path.
    pub path: String,
    /// Line it was anchored on, in the reviewed commit.
    pub line: Option<u32>,
    /// The comment.
    pub body: Untrusted,
    /// Whether the code it points at changed since: the lines around it, or the file for a
    /// comment without a line.
    pub addressed: bool,
}

/// The diagnostician's result that a bug fix follows.
#[derive(Clone, Debug, Serialize)]
pub struct DiagnosisContext {
    /// Root-cause hypothesis.
    pub hypothesis: Untrusted,
    /// Fix plan.
    pub plan: Untrusted,
    /// Stated confidence, as submitted.
    pub confidence: String,
    /// Files the fix will touch.
    pub files: Vec<String>,
}

/// Results of the new tests on the base and the head commit.
#[derive(Clone, Debug, Serialize)]
pub struct EvidenceContext {
    /// The base commit.
    pub base_sha: String,
    /// The head commit.
    pub head_sha: String,
    /// One row per new or changed test.
    pub tests: Vec<TestEvidence>,
    /// Output of the base run's failures, capped.
    pub base_output: Untrusted,
    /// Output of the head run's failures, capped.
    pub head_output: Untrusted,
}

/// One test's outcome on base and head.
#[derive(Clone, Debug, Serialize)]
pub struct TestEvidence {
    /// The test's name as the runner reports it.
    pub name: String,
    /// `passed`, `failed` or `missing` (the test does not exist or compile on base).
    pub on_base: String,
    /// `passed` or `failed`.
    pub on_head: String,
}

impl SystemContext {
    /// A complete example, used to check templates (`PromptLibrary::check`) and in tests.
    pub fn example() -> SystemContext {
        SystemContext {
            agent: AgentContext {
                role: "developer".to_owned(),
                instructions: "You are the Developer.".to_owned(),
                tools: vec![
                    "read_file".to_owned(),
                    "edit_file".to_owned(),
                    "finish".to_owned(),
                ],
                terminal_tool: "finish".to_owned(),
            },
            repository: RepositoryContext::example(),
            docs: vec![DocContext {
                path: "CONTRIBUTING.md".to_owned(),
                text: Guidance::new("CONTRIBUTING.md", "Run the tests before you push."),
                cut_from: Some(4096),
            }],
            docs_left_out: vec![LeftOutContext {
                path: "docs/adr/0001-money.md".to_owned(),
                bytes: 9000,
            }],
            guidance_elsewhere: vec!["crates/shop/AGENTS.md".to_owned()],
            docs_cap_bytes: 32 * 1024,
        }
    }
}

impl RepositoryContext {
    fn example() -> RepositoryContext {
        RepositoryContext {
            github: "acme/shop".to_owned(),
            base_branch: "main".to_owned(),
            branch: "eng-42-free-shipping".to_owned(),
            base_sha: Some("1111111111111111111111111111111111111111".to_owned()),
            head_sha: Some("2222222222222222222222222222222222222222".to_owned()),
            test_command: "cargo test".to_owned(),
            test_globs: vec!["tests/**".to_owned()],
        }
    }
}

impl TaskContext {
    /// A complete example with every optional part present, used to check templates
    /// (`PromptLibrary::check`) and in tests.
    pub fn example() -> TaskContext {
        let scenario = "Scenario: Free shipping above 50\n  Given a cart worth 60\n  When I check out\n  \
                        Then shipping costs 0";
        TaskContext {
            role: "developer".to_owned(),
            issue: IssueContext {
                identifier: "ENG-42".to_owned(),
                url: "https://linear.app/acme/issue/ENG-42".to_owned(),
                title: Untrusted::new("issue title", "Free shipping above 50"),
                description: Untrusted::new(
                    "issue description",
                    format!("```gherkin\n{scenario}\n```"),
                ),
                scenarios: vec![ScenarioContext {
                    id: "AC-1".to_owned(),
                    text: Untrusted::new("scenario AC-1", scenario),
                }],
            },
            repository: RepositoryContext::example(),
            round: 1,
            max_rounds: 3,
            reviews: vec![ReviewContext {
                reviewer: "code-reviewer".to_owned(),
                verdict: "changes_requested".to_owned(),
                body: Untrusted::new("review by code-reviewer", "Use the Money type."),
                comments: vec![ReviewCommentContext {
                    path: "src/cart.rs".to_owned(),
                    line: Some(12),
                    body: Untrusted::new("review comment", "This is a float."),
                }],
            }],
            previous_review: Some(PreviousReviewContext {
                round: 1,
                verdict: "changes_requested".to_owned(),
                commit: "1111111111111111111111111111111111111111".to_owned(),
                body: Untrusted::new("your review of round 1", "Use the Money type."),
                comments: vec![PreviousCommentContext {
                    path: "src/cart.rs".to_owned(),
                    line: Some(12),
                    body: Untrusted::new("your comment", "This is a float."),
                    addressed: true,
                }],
                changed_files: vec!["src/cart.rs".to_owned()],
                diff: Some(Untrusted::new(
                    "diff since your review",
                    "-    total: f64,\n+    total: Money,",
                )),
                diff_cut: false,
                evidence_unchanged: false,
            }),
            diagnosis: Some(DiagnosisContext {
                hypothesis: Untrusted::new(
                    "diagnosis hypothesis",
                    "The total is None for empty carts.",
                ),
                plan: Untrusted::new("diagnosis plan", "1. Treat an empty cart as 0."),
                confidence: "high".to_owned(),
                files: vec!["src/cart.rs".to_owned()],
            }),
            evidence: Some(EvidenceContext {
                base_sha: "1111111111111111111111111111111111111111".to_owned(),
                head_sha: "2222222222222222222222222222222222222222".to_owned(),
                tests: vec![TestEvidence {
                    name: "free_shipping_above_50".to_owned(),
                    on_base: "failed".to_owned(),
                    on_head: "passed".to_owned(),
                }],
                base_output: Untrusted::new(
                    "test output on base",
                    "assertion failed: shipping == 0",
                ),
                head_output: Untrusted::new("test output on head", ""),
            }),
            developer_summary: Some(Untrusted::new(
                "developer summary",
                "Added the rule in src/cart.rs.",
            )),
            qa_summary: Some(Untrusted::new(
                "qa summary",
                "AC-1: tests/cart.rs free_shipping_above_50",
            )),
            conflict: Some(ConflictContext {
                round: 1,
                max_rounds: 2,
                base_sha: "3333333333333333333333333333333333333333".to_owned(),
                files: vec![ConflictFileContext {
                    path: "src/cart.rs".to_owned(),
                    test_file: false,
                    excerpt: Untrusted::new(
                        "conflicts in src/cart.rs",
                        "<<<<<<< main (333333333333)\n    total: Money,\n||||||| where the branch forked\n    total: f64,\n=======\n    total: f64,\n    shipping: f64,\n>>>>>>> eng-42-free-shipping (222222222222)",
                    ),
                }],
                landed: vec![LandedContext {
                    issue: "ENG-41".to_owned(),
                    pr_url: Some("https://github.com/acme/shop/pull/41".to_owned()),
                    title: Untrusted::new("title of ENG-41", "Totals in Money"),
                    description: Untrusted::new(
                        "description of ENG-41",
                        "Carts keep their totals as Money.",
                    ),
                }],
            }),
            checks: Some(ChecksContext {
                round: 1,
                max_rounds: 2,
                head_sha: "222222222222".to_owned(),
                checks: vec![FailedCheckContext {
                    name: "test".to_owned(),
                    outcome: "failure".to_owned(),
                    commit: "222222222222".to_owned(),
                    details_url: Some(
                        "https://github.com/acme/shop/actions/runs/1/job/7".to_owned(),
                    ),
                    output: Some(Untrusted::new(
                        "check output",
                        "Tests failed\nsrc/cart.rs:12: shipping != 0",
                    )),
                    log: Some(Untrusted::new(
                        "check log excerpt",
                        "test free_shipping_above_50 ... FAILED",
                    )),
                }],
            }),
            revert: None,
        }
    }
}
