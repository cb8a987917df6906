//! Shared set-up: a stand-in playing a script, and an adapter pointed at it.

use std::sync::Arc;
use std::time::Duration;

use squadron_core::domain::Timestamp;
use squadron_core::ports::{ChatMessage, ChatRequest, Clock, ToolSpec};
use squadron_model::{Jitter, OpenAiCompatibleModel, ProviderSettings, RetryPolicy};
use squadron_standin_model::{Script, ScriptBook, StandinModel};

/// Sun, 06 Nov 1994 08:49:37 GMT.
pub const NOW_MILLIS: i64 = 784_111_777_000;

#[derive(Debug)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

pub async fn standin(script: Script) -> StandinModel {
    StandinModel::start(ScriptBook::new().with(script))
        .await
        .expect("stand-in starts")
}

/// Settings with small, exact backoff (no jitter) so tests can assert the waits.
pub fn settings(standin: &StandinModel, max_tries: u32) -> ProviderSettings {
    ProviderSettings {
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_tries,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(60),
            jitter: Jitter::None,
        },
        ..ProviderSettings::new("local", standin.base_url())
    }
}

pub fn adapter(settings: ProviderSettings) -> OpenAiCompatibleModel {
    OpenAiCompatibleModel::new(
        settings,
        Arc::new(FixedClock(Timestamp::from_millis(NOW_MILLIS))),
    )
    .expect("adapter builds")
}

pub fn read_file_tool() -> ToolSpec {
    ToolSpec {
        name: "read_file".to_owned(),
        description: "Reads a file of the worktree.".to_owned(),
        parameters:
            r#"{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}"#
                .to_owned(),
    }
}

pub fn request(system: &str, task: &str) -> ChatRequest {
    ChatRequest {
        model: "scripted-model".to_owned(),
        messages: vec![
            ChatMessage::System {
                content: system.to_owned(),
            },
            ChatMessage::User {
                content: task.to_owned(),
            },
        ],
        tools: vec![read_file_tool()],
        max_output_tokens: None,
    }
}
