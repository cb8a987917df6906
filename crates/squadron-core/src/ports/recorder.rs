//! The recorder port: where the harness writes what agents said and what it cost.

use async_trait::async_trait;

use super::error::PortError;
use super::model::ChatMessage;
use crate::domain::{Role, RunId, SquadId, Timestamp, TokenUsage, Usd};

/// Usage of one model call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRecord {
    /// The run.
    pub run_id: RunId,
    /// The squad.
    pub squad_id: SquadId,
    /// The role that made the call.
    pub role: Role,
    /// `provider/model` as configured.
    pub model: String,
    /// Tokens used.
    pub usage: TokenUsage,
    /// Cost at the configured prices.
    pub cost: Usd,
    /// When the call ended.
    pub at: Timestamp,
}

/// What a budget applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpendScope {
    /// One squad.
    Squad(SquadId),
    /// A whole run.
    Run(RunId),
}

/// Persists transcripts and usage as they happen.
#[async_trait]
pub trait AgentRecorder: Send + Sync {
    /// Appends one message to the squad's transcript for `role`, in order.
    async fn append_message(
        &self,
        squad_id: &SquadId,
        role: Role,
        message: &ChatMessage,
        at: Timestamp,
    ) -> Result<(), PortError>;

    /// Records the usage of one model call.
    async fn record_usage(&self, record: &UsageRecord) -> Result<(), PortError>;

    /// Total cost recorded so far for `scope`.
    async fn spent(&self, scope: &SpendScope) -> Result<Usd, PortError>;

    /// Keeps `conversation` (the harness's encoding) as the one `role` of the squad goes on
    /// with in its next turn, replacing the one kept before, so that a restarted daemon
    /// continues it. A recorder that keeps none ignores it.
    async fn keep_conversation(
        &self,
        _squad_id: &SquadId,
        _role: Role,
        _conversation: &str,
        _at: Timestamp,
    ) -> Result<(), PortError> {
        Ok(())
    }

    /// The conversation last kept for `role` of the squad, if any.
    async fn kept_conversation(
        &self,
        _squad_id: &SquadId,
        _role: Role,
    ) -> Result<Option<String>, PortError> {
        Ok(None)
    }
}
