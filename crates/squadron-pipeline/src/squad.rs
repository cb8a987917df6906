//! What the runtime keeps about one squad between its steps: the issue, the repository, the
//! worktree, a bug fix's diagnosis and the agents' summaries. Everything here can be rebuilt
//! after a restart (the issue from the tracker, the worktree by preparing it again, the
//! diagnosis and the record of QA's files from the squad's event log), so none of it is
//! persisted from here.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use squadron_config::{AgentCatalog, AgentSource, PromptLibrary, RepoSettings, RepositoryGuidance};
use squadron_core::gate::CommitSha;
use squadron_core::ports::{PreparedWorktree, WorktreeRequest};
use squadron_core::{Issue, IssueKey, PrNumber, Role, RunId, SquadId, SquadKind, StepFailure};
use squadron_harness::{
    Diagnosis, KeptConversation, RepoPolicy, SquadWorkspace, TestChangeRequests, Worktree,
    repository_sandbox,
};

use crate::progress::SquadView;
use crate::revert::{RevertPlan, revert_branch};
use crate::services::{AgentSetup, RepositoryTarget};
use crate::setup;
use crate::shared::Shared;

/// Where a target repository keeps its overrides of the shipped agents and prompts.
const AGENTS_DIR: &str = "agents";
const PROMPTS_DIR: &str = "prompts";

/// The agents and prompts one squad works with: the shipped ones, overridden by its target
/// repository's `agents/` and `prompts/`.
#[derive(Clone, Debug)]
pub(crate) struct SquadAgents {
    pub agents: BTreeMap<Role, AgentSetup>,
    pub prompts: Arc<PromptLibrary>,
}

/// What the writers answered to one review round: the Developer's summary of its fix and
/// QA's, when QA had findings to answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ReviewReply {
    /// The review round answered.
    pub round: u32,
    pub developer: Option<String>,
    pub qa: Option<String>,
}

/// A reviewer's conversation of its last review and what that review was shown, so that
/// its next review goes on in it and says only what changed.
#[derive(Clone, Debug)]
pub(crate) struct ReviewThread {
    pub conversation: KeptConversation,
    /// The writer's summary it was shown (the Developer's, or QA's for the QA Specialist).
    pub summary: Option<String>,
    /// The new tests' outcomes it was shown: name, on base, on head.
    pub outcomes: Vec<(String, String, String)>,
}

/// One squad's working state.
#[derive(Debug)]
pub(crate) struct SquadCtx {
    pub run: RunId,
    pub squad: SquadId,
    pub issue_key: IssueKey,
    pub kind: SquadKind,
    pub issue: Option<Issue>,
    pub target: Option<RepositoryTarget>,
    pub worktree: Option<PreparedWorktree>,
    pub workspace: Option<SquadWorkspace>,
    /// The test command as shown to agents.
    pub test_command: String,
    pub test_globs: Vec<String>,
    /// What the remote branch is known to hold: the lease of the next push.
    pub remote_sha: Option<CommitSha>,
    pub pr: Option<PrNumber>,
    pub pr_url: Option<String>,
    pub developer_summary: Option<String>,
    pub qa_summary: Option<String>,
    /// The writers' answers to each review round, for the PR body and the next reviews.
    pub review_replies: Vec<ReviewReply>,
    /// Each reviewer's conversation of its last review, which its next review continues so a
    /// provider's prompt cache serves it; the harness keeps it in the store as well, from
    /// which a restarted daemon reads it back.
    pub review_threads: BTreeMap<Role, ReviewThread>,
    /// The Developer's and QA's conversations of their last finished turn, which their next
    /// turn (a review round, a CI fix, failing tests or refused changes handed back, a
    /// test-change request) continues; read back from the store after a restart.
    pub writer_threads: BTreeMap<Role, KeptConversation>,
    /// A bug fix's diagnosis, once made or read back from the event log.
    pub diagnosis: Option<Diagnosis>,
    /// What a revert squad takes back, once read from its event log.
    pub revert: Option<RevertPlan>,
    /// Its agents and prompts, once the worktree is prepared.
    pub agents: Option<SquadAgents>,
    /// The repository's guidance for agents (`AGENTS.md`, `CLAUDE.md`, its docs), read from
    /// the base commit when the worktree is prepared.
    pub guidance: Option<Arc<RepositoryGuidance>>,
}

/// A squad's working state, shared by the tasks that work for it one at a time.
pub(crate) type SharedCtx = Arc<tokio::sync::Mutex<SquadCtx>>;

impl SquadCtx {
    /// The working state of the squad `view` shows, before any step filled it in.
    pub fn for_view(view: &SquadView) -> SharedCtx {
        let mut ctx = SquadCtx::new(
            view.run.clone(),
            view.squad.clone(),
            view.issue.clone(),
            view.kind,
        );
        ctx.pr = view.pr;
        ctx.pr_url = view.pr_url.clone();
        Arc::new(tokio::sync::Mutex::new(ctx))
    }

    pub fn new(run: RunId, squad: SquadId, issue_key: IssueKey, kind: SquadKind) -> Self {
        Self {
            run,
            squad,
            issue_key,
            kind,
            issue: None,
            target: None,
            worktree: None,
            workspace: None,
            test_command: String::new(),
            test_globs: Vec::new(),
            remote_sha: None,
            pr: None,
            pr_url: None,
            developer_summary: None,
            qa_summary: None,
            review_replies: Vec::new(),
            review_threads: BTreeMap::new(),
            writer_threads: BTreeMap::new(),
            diagnosis: None,
            revert: None,
            agents: None,
            guidance: None,
        }
    }

    /// A bug fix's diagnosis, read back from the event log after a restart; `None` for a
    /// feature squad or a fix not diagnosed yet. The plan stands in for the refined issue
    /// in the agents' prompts, so every step that renders one calls this first.
    pub async fn ensure_diagnosis(&mut self, shared: &Shared) -> Result<(), StepFailure> {
        if self.kind == SquadKind::BugFix && self.diagnosis.is_none() {
            self.diagnosis = crate::diagnosis::recorded(shared, &self.squad).await?;
        }
        Ok(())
    }

    /// What a revert squad takes back, read back from the event log after a restart; `None`
    /// for any other squad. Every step of a revert that renders its PR or prompts calls this
    /// first.
    pub async fn ensure_revert(&mut self, shared: &Shared) -> Result<(), StepFailure> {
        if self.kind == SquadKind::Revert && self.revert.is_none() {
            self.revert = Some(crate::revert::recorded(shared, &self.squad).await?);
        }
        Ok(())
    }

    /// The issue, read from the tracker on first use (after a restart it is not cached). A
    /// revert squad works the reverted squad's issue on a branch of its own.
    pub async fn issue(&mut self, shared: &Shared) -> Result<&Issue, StepFailure> {
        if self.issue.is_none() {
            let mut issue = shared
                .services
                .tracker
                .fetch_issue(self.issue_key.as_str())
                .await
                .map_err(|error| {
                    StepFailure::port(format!("read issue {}", self.issue_key), &error)
                })?;
            if self.kind == SquadKind::Revert {
                issue.branch_name = revert_branch(&self.issue_key);
            }
            self.issue = Some(issue);
        }
        self.issue
            .as_ref()
            .ok_or_else(|| StepFailure::internal(format!("read issue {}", self.issue_key)))
    }

    /// The repository the issue's team works in.
    pub async fn target(&mut self, shared: &Shared) -> Result<RepositoryTarget, StepFailure> {
        if let Some(target) = &self.target {
            return Ok(target.clone());
        }
        let team = self.issue(shared).await?.team_key.clone();
        let target = shared
            .settings
            .repositories
            .get(&team)
            .cloned()
            .ok_or_else(|| {
                StepFailure::needs_person(format!(
                    "find the repository of team {team}: none is configured; add \
                     [repositories.{team}] to the configuration"
                ))
            })?;
        self.target = Some(target.clone());
        Ok(target)
    }

    /// Prepares (or, after a restart, finds again) the worktree and the agents' shared
    /// workspace. Repeating it is harmless: the worktree is reused as it stands.
    pub async fn ensure_workspace(
        &mut self,
        shared: &Shared,
    ) -> Result<SquadWorkspace, StepFailure> {
        if let Some(workspace) = &self.workspace {
            return Ok(workspace.clone());
        }
        let target = self.target(shared).await?;
        let branch = self.issue(shared).await?.branch_name.clone();
        let request = WorktreeRequest {
            squad: self.squad.clone(),
            repo: target.repo.clone(),
            base_branch: target.base_branch.clone(),
            branch,
        };
        let prepared = shared
            .services
            .workspaces
            .prepare(&request)
            .await
            .map_err(|error| {
                StepFailure::port(
                    format!("prepare the worktree of {}", self.issue_key),
                    &error,
                )
            })?;
        let (settings, agents, guidance) = read_repository(shared, &prepared).await?;
        let policy = RepoPolicy::from_settings(&settings).map_err(|error| {
            StepFailure::needs_person("read the repository's test file and protected path patterns")
                .caused_by(&error)
        })?;
        let caches = shared
            .settings
            .cache_root
            .as_ref()
            .map(|root| root.join(&target.repo.owner).join(&target.repo.name));
        let base_sandbox = &shared.services.sandbox;
        let sandbox_settings = repository_sandbox(
            base_sandbox.settings(),
            &settings.sandbox,
            caches.as_deref(),
        )
        .map_err(|error| {
            StepFailure::needs_person("set up the sandbox the repository's .squadron.toml asks for")
                .caused_by(&error)
        })?;
        let worktree = Worktree::open(&prepared.path, &prepared.git_dir).map_err(|error| {
            StepFailure::internal(format!("open the worktree {}", prepared.path.display()))
                .caused_by(&error)
        })?;
        self.test_command = settings.test.to_string();
        self.test_globs = settings.test_globs.clone();
        if self.remote_sha.is_none() {
            self.remote_sha = prepared.remote_sha.clone();
        }
        let workspace = SquadWorkspace {
            run_id: self.run.clone(),
            squad_id: self.squad.clone(),
            issue: self.issue_key.clone(),
            worktree,
            sandbox: Arc::new(base_sandbox.with_settings(sandbox_settings)),
            policy: Arc::new(policy),
            qa_files: crate::qa_record::restored(shared, &self.squad).await?,
            test_change_requests: TestChangeRequests::default(),
            budgets: shared.settings.budgets,
        };
        setup::run_once(shared, &self.squad, &self.issue_key, &workspace).await?;
        self.worktree = Some(prepared);
        self.workspace = Some(workspace.clone());
        self.agents = Some(agents);
        self.guidance = Some(Arc::new(guidance));
        Ok(workspace)
    }

    /// The squad's agents and prompts; call [`SquadCtx::ensure_workspace`] first.
    pub fn agents(&self) -> Result<&SquadAgents, StepFailure> {
        self.agents.as_ref().ok_or_else(|| {
            StepFailure::internal(format!(
                "use the agents of {}: its worktree was not prepared",
                self.issue_key
            ))
        })
    }

    /// The prepared worktree; call [`SquadCtx::ensure_workspace`] first.
    pub fn prepared(&self) -> Result<&PreparedWorktree, StepFailure> {
        self.worktree.as_ref().ok_or_else(|| {
            StepFailure::internal(format!(
                "use the worktree of {}: it was not prepared",
                self.issue_key
            ))
        })
    }

    /// Keeps the summaries of the writers' latest finished turns, for the commit messages
    /// and the PR body.
    pub fn keep_summaries(&mut self, developer: Option<String>, qa: Option<String>) {
        if developer.is_some() {
            self.developer_summary = developer;
        }
        if qa.is_some() {
            self.qa_summary = qa;
        }
    }

    /// Forgets the worktree (after removing it), so a later step prepares it again.
    pub fn forget_worktree(&mut self) {
        self.worktree = None;
        self.workspace = None;
        self.agents = None;
        self.guidance = None;
    }
}

/// What the target repository says about how its squads work: its `.squadron.toml`
/// (guardrail commands, test globs, allowed commands, sandbox), its `agents/` and `prompts/`
/// overrides of the shipped agents, and its guidance for agents (`AGENTS.md`, `CLAUDE.md`,
/// the docs it lists). All of it is read from a checkout of the base commit, not the
/// worktree, so no agent can rewrite its own guardrails or instructions (or another role's)
/// by changing them on the squad's branch. A malformed file fails the squad with the file and
/// the problem.
async fn read_repository(
    shared: &Shared,
    prepared: &PreparedWorktree,
) -> Result<(RepoSettings, SquadAgents, RepositoryGuidance), StepFailure> {
    let shipped = SquadAgents {
        agents: shared.services.agents.clone(),
        prompts: Arc::clone(&shared.services.prompts),
    };
    let workspaces = &shared.services.workspaces;
    let base = &prepared.base_sha;
    let scratch = workspaces
        .scratch(&prepared.path, base)
        .await
        .map_err(|error| {
            StepFailure::port(
                format!(
                    "check out the base {} to read the repository's Squadron settings",
                    base.short()
                ),
                &error,
            )
        })?;
    let loaded = load_settings(shared, &scratch).and_then(|settings| {
        let guidance = RepositoryGuidance::read(&scratch, &settings.docs, settings.docs_max_bytes);
        overrides_in(shared, &scratch, shipped).map(|agents| (settings, agents, guidance))
    });
    if let Err(error) = workspaces.remove(&scratch).await {
        tracing::warn!(path = %scratch.display(), %error, "could not remove a scratch worktree");
    }
    let loaded = loaded?;
    for note in &loaded.0.notes {
        tracing::info!(note = %note, "repository settings");
    }
    Ok(loaded)
}

fn load_settings(shared: &Shared, root: &Path) -> Result<RepoSettings, StepFailure> {
    RepoSettings::load_with(root, &shared.settings.host).map_err(|error| {
        StepFailure::needs_person(format!(
            "read the repository settings in {}",
            root.display()
        ))
        .caused_by(&error)
    })
}

/// Applies the overrides found in `root` (a checkout of the repository) to `shipped`.
fn overrides_in(
    shared: &Shared,
    root: &Path,
    mut squad: SquadAgents,
) -> Result<SquadAgents, StepFailure> {
    let prompts_dir = root.join(PROMPTS_DIR);
    if prompts_dir.is_dir() {
        let prompts = PromptLibrary::load(Some(&prompts_dir)).map_err(|error| {
            StepFailure::needs_person("load the repository's prompt overrides").caused_by(&error)
        })?;
        squad.prompts = Arc::new(prompts);
    }
    let agents_dir = root.join(AGENTS_DIR);
    if !agents_dir.is_dir() {
        return Ok(squad);
    }
    let catalog = AgentCatalog::load(Some(&agents_dir)).map_err(|error| {
        StepFailure::needs_person("load the repository's agent overrides").caused_by(&error)
    })?;
    for definition in catalog.iter() {
        if !matches!(definition.source, AgentSource::Override(_)) {
            continue;
        }
        let role = definition.role;
        let setup = match squad.agents.get(&role) {
            // The shipped agent's model, already wired: no need to resolve it again.
            Some(shipped) if shipped.definition.model == definition.model => AgentSetup {
                definition: definition.clone(),
                ..shipped.clone()
            },
            _ => {
                let resolved =
                    shared
                        .services
                        .models
                        .resolve(&definition.model)
                        .map_err(|problem| {
                            StepFailure::needs_person(format!(
                                "use model `{}` named by the repository's agent override {}",
                                definition.model, definition.source
                            ))
                            .caused_by(&problem)
                        })?;
                AgentSetup {
                    definition: definition.clone(),
                    prices: resolved.prices,
                    model: resolved.model,
                }
            }
        };
        tracing::info!(role = %role, file = %definition.source, model = %definition.model, "the repository overrides this agent");
        squad.agents.insert(role, setup);
    }
    Ok(squad)
}
