//! Ports: the traits through which the runtime reaches the outside world.
//!
//! Adapter crates implement them; tests use in-memory fakes.

pub mod checks;
pub mod clock;
pub mod code_host;
pub mod error;
pub mod model;
pub mod notifier;
pub mod recorder;
pub mod store;
pub mod tracker;
pub mod workspace;

pub use checks::{
    CheckAnnotation, CheckEvidence, CheckOrigin, CheckReport, CheckState, RerunOutcome,
};
pub use clock::Clock;
pub use code_host::{
    CodeHost, ConversationEntry, InlineCommentEntry, MergeMethod, MergeOutcome, PostedReview,
    PullRequestFeedback, PullRequestInfo, PullRequestRequest, RepoRef, ResolvedIdentities,
    ReviewDelivery, ReviewEntry, StatusUpdate,
};
pub use error::{PortError, PortErrorKind};
pub use model::{
    BilledUnusable, ChatMessage, ChatModel, ChatReply, ChatRequest, ContextOverflow, FinishReason,
    ModelLimits, TokenEncoding, ToolCall, ToolSpec,
};
pub use notifier::{Confidence, MessageTs, Notifier, SquadUpdate, ThreadOpening, ThreadRef};
pub use recorder::{AgentRecorder, SpendScope, UsageRecord};
pub use store::{
    AdmittedSquad, JournalBegin, JournalEntry, JournalStatus, RunRecord, RunStatus, SquadChange,
    SquadEvent, SquadRecord, StoppedLane, Store, TranscriptEntry, UsageTotals,
};
pub use tracker::{IssueTracker, MilestoneChoice, MilestoneIntake, SyncOutcome, WorkflowTarget};
pub use workspace::{
    ConflictedMerge, LANDED_SHOWN, MergeTrial, PatchId, PreparedWorktree, RebaseOutcome,
    Workspaces, WorktreeRequest,
};
