//! What the runtime is built from: the ports the binary wired, the agents, and the settings.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use squadron_config::{AgentDefinition, HostEnvironment, ModelRef, PromptLibrary};
use squadron_core::gate::ReviewerIdentities;
use squadron_core::merge_queue::MergeLane;
use squadron_core::ports::{
    ChatModel, Clock, CodeHost, Confidence, IssueTracker, MergeMethod, Notifier, RepoRef,
    ResolvedIdentities, ReviewDelivery, Store, Workspaces,
};
use squadron_core::refinement::RefinementPolicy;
use squadron_core::scheduler::SchedulerConfig;
use squadron_core::{Role, TokenPrices};
use squadron_harness::{Budgets, Sandbox, TurnSettings};

/// One agent role as the runtime runs it: its definition (instructions, tools, write
/// scope), its model's prices, and the model to call.
#[derive(Clone)]
pub struct AgentSetup {
    /// The agent file.
    pub definition: AgentDefinition,
    /// Prices of its model, for metering.
    pub prices: TokenPrices,
    /// The model it calls.
    pub model: Arc<dyn ChatModel>,
}

impl fmt::Debug for AgentSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentSetup")
            .field("role", &self.definition.role)
            .field("model", &self.definition.model)
            .finish_non_exhaustive()
    }
}

/// A model an agent file names, ready to call.
#[derive(Clone)]
pub struct ResolvedModel {
    /// The model to call.
    pub model: Arc<dyn ChatModel>,
    /// Its prices, for metering.
    pub prices: TokenPrices,
}

impl fmt::Debug for ResolvedModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedModel")
            .field("prices", &self.prices)
            .finish_non_exhaustive()
    }
}

/// Turns a model reference (`provider/model`) into the model to call, for agents a target
/// repository overrides with a model of their own. The binary resolves over the configured
/// providers and price table.
pub trait ModelResolver: Send + Sync {
    /// The model `reference` names, or what is wrong with it.
    fn resolve(&self, reference: &ModelRef) -> Result<ResolvedModel, ModelResolveError>;
}

/// Why a model an agent names cannot be used; each reads after "failed to use model …:".
#[derive(Debug, thiserror::Error)]
pub enum ModelResolveError {
    /// The configuration has no price table for it, so its spending could not be metered.
    #[error(
        "it has no prices in the configuration; add [providers.{provider}.models.\"{model}\"] \
         with input, cached_input and output (0 for a free local model)"
    )]
    NoPrices {
        /// The provider's name.
        provider: String,
        /// The model's name at the provider.
        model: String,
    },
    /// No configured provider serves it.
    #[error("no configured provider serves it")]
    Unroutable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The ports and shared machinery the runtime works through. The binary builds the real
/// adapters; tests pass fakes.
#[derive(Clone)]
pub struct Services {
    /// Runs, squads, the event log, transcripts, usage and the side-effect journal.
    pub store: Arc<dyn Store>,
    /// Linear.
    pub tracker: Arc<dyn IssueTracker>,
    /// GitHub.
    pub code_host: Arc<dyn CodeHost>,
    /// Local git worktrees.
    pub workspaces: Arc<dyn Workspaces>,
    /// Every role's agent as shipped (or configured); a role without one fails the squads
    /// that need it. A target repository's `agents/` overrides these for its squads.
    pub agents: BTreeMap<Role, AgentSetup>,
    /// Models for agents a target repository overrides with a model of their own.
    pub models: Arc<dyn ModelResolver>,
    /// Prompt templates; a target repository's `prompts/` overrides these for its squads.
    pub prompts: Arc<PromptLibrary>,
    /// How agents' commands and the test command run.
    pub sandbox: Arc<Sandbox>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Where squads' progress is told to people (Slack), when a bot token is configured.
    /// Without one, squads run silently; with one, squads started from Slack (or every
    /// squad, when [`PipelineSettings::notify_channel`] is set) report in a thread.
    pub notifier: Option<Arc<dyn Notifier>>,
}

impl fmt::Debug for Services {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Services")
            .field("agents", &self.agents)
            .field("notifier", &self.notifier.is_some())
            .finish_non_exhaustive()
    }
}

/// The repository a team's issues are worked in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryTarget {
    /// `owner/name` on the code host.
    pub repo: RepoRef,
    /// The branch pull requests target.
    pub base_branch: String,
}

/// How reviewers' verdicts reach the code host and how the gate reads them back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewMode {
    /// Real reviews, or comments plus commit statuses.
    pub delivery: ReviewDelivery,
    /// Whose approvals the gate counts.
    pub reviewers: ReviewerIdentities,
    /// Each role's login, when known: lets a restarted squad find a review it posted but
    /// never recorded instead of posting it again.
    pub identities: Option<ResolvedIdentities>,
}

/// The runtime's settings, from the configuration.
#[derive(Clone, Debug)]
pub struct PipelineSettings {
    /// Concurrency, review-round cap and gate waits.
    pub scheduler: SchedulerConfig,
    /// Which issues are refined enough to admit.
    pub refinement: RefinementPolicy,
    /// Repository per Linear team key (`ENG`).
    pub repositories: BTreeMap<String, RepositoryTarget>,
    /// Spending limits per squad and per run.
    pub budgets: Budgets,
    /// Model calls one agent may make on one task.
    pub agent_turn_limit: u32,
    /// Context budget, tool output caps and hand-off rules of every agent's turn.
    pub turn: TurnSettings,
    /// How approved PRs merge.
    pub merge_method: MergeMethod,
    /// Review delivery and the reviewers the gate counts.
    pub review_mode: ReviewMode,
    /// Checks that must pass on the head before a merge.
    pub required_checks: Vec<String>,
    /// Keep a needs-human squad's worktree for a person to inspect.
    pub keep_worktrees_on_needs_human: bool,
    /// Test the lane holder's head merged with the base's current tip before merging it.
    pub test_merge_result: bool,
    /// How often the scheduler is ticked (to re-ask a waiting merge gate).
    pub tick_every: Duration,
    /// How long in-flight steps may run after shutdown was asked for before they are
    /// abandoned (their phase is recorded, so a restart repeats them).
    pub shutdown_grace: Duration,
    /// Prefix of the failpoint names (`<scope>::<phase>`), so concurrent tests do not
    /// trip each other's failpoints.
    pub failpoint_scope: String,
    /// Lowest diagnosis confidence with which a bug-fix squad goes on to fix; below it the
    /// squad stops as needs-human with the diagnosis.
    pub min_confidence: Confidence,
    /// Channel for the threads of squads not started from Slack (config `slack.channel`);
    /// `None` keeps them silent.
    pub notify_channel: Option<String>,
    /// What this host offers a target repository's commands (its environment for
    /// `pass_env`, the default `PATH`, what may never be passed or mounted).
    pub host: HostEnvironment,
    /// Where the caches a repository's `.squadron.toml` names are kept, one directory per
    /// repository (`<root>/<owner>/<name>/<VARIABLE>`), reused by its later squads; `None`
    /// leaves those variables unset.
    pub cache_root: Option<std::path::PathBuf>,
    /// Whether this runtime shares the squads of its store with other daemons: then it
    /// schedules only the squads handed to it ([`PipelineHandle::adopt`], claimed by its
    /// daemon), resumes nothing by itself at start, leaves the squads it admits for the
    /// daemons to claim, and records a run finished once the store has all of its squads
    /// ended. Otherwise it runs every squad of the store.
    ///
    /// [`PipelineHandle::adopt`]: crate::PipelineHandle::adopt
    pub shares_squads: bool,
}

impl PipelineSettings {
    /// The merge lane of a team's squads: its repository and base branch; `None` when no
    /// repository is configured for the team.
    pub fn lane_of(&self, team: &str) -> Option<MergeLane> {
        self.repositories.get(team).map(|target| MergeLane {
            repo: target.repo.clone(),
            base: target.base_branch.clone(),
        })
    }

    /// Settings with the shipped defaults for everything but the repositories and review
    /// mode, which depend on the deployment.
    pub fn new(repositories: BTreeMap<String, RepositoryTarget>, review_mode: ReviewMode) -> Self {
        Self {
            scheduler: SchedulerConfig::default(),
            refinement: RefinementPolicy {
                max_estimate: Some(5.0),
                require_estimate: true,
            },
            repositories,
            budgets: Budgets::default(),
            agent_turn_limit: 80,
            turn: TurnSettings::default(),
            merge_method: MergeMethod::Squash,
            review_mode,
            required_checks: Vec::new(),
            keep_worktrees_on_needs_human: true,
            test_merge_result: true,
            tick_every: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(600),
            failpoint_scope: "squadron".to_owned(),
            min_confidence: Confidence::Medium,
            notify_channel: None,
            host: HostEnvironment::bare(),
            cache_root: None,
            shares_squads: false,
        }
    }
}
