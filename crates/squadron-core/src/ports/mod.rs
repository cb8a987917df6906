//! Ports: the traits through which the runtime reaches the outside world.
//!
//! Adapter crates implement them; tests use in-memory fakes.

pub mod clock;
pub mod error;
pub mod model;
pub mod recorder;

pub use clock::Clock;
pub use error::{PortError, PortErrorKind};
pub use model::{ChatMessage, ChatModel, ChatReply, ChatRequest, FinishReason, ToolCall, ToolSpec};
pub use recorder::{AgentRecorder, SpendScope, UsageRecord};
