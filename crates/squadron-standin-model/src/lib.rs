//! A loopback stand-in for an OpenAI-compatible chat-completions endpoint that plays
//! per-role scripts, records every request, and injects faults on cue.
//!
//! It answers `POST /v1/chat/completions` and `POST /chat/completions` the way OpenAI's
//! published description says (`content: null` beside `tool_calls`, `finish_reason`,
//! `usage` with or without `prompt_tokens_details`, `id`, `object`, `created`, `model`), and
//! refuses with HTTP 400 what a real endpoint refuses (no model, empty messages, a tool
//! message that answers no call, a tool call left unanswered).
//!
//! # Choosing a script
//!
//! Each request is matched against the loaded scripts in order; the first whose conditions
//! all hold and whose steps are not all played answers it with its next step (so an agent
//! whose conversation goes on with its first task, as a reviewer's next round does, moves on
//! to the next script that matches once one runs out). `system_contains` matches a text in the request's
//! first `system` message (the agent file's system prompt names the role, so the role's name
//! or any marker in it works); `task_contains` matches a text in the request's first `user`
//! message, the task the agent was given (it names the issue and the step, e.g.
//! `Task: implement ENG-2`, so concurrent squads of one role each get their own script);
//! `asked_contains` matches a text in any `user` message, the task or a message that went on
//! with the conversation after it (a Developer's fix round continues its conversation of the
//! implementation with the reviews), so one script serves a step however it was asked;
//! `model` matches the request's `model` field exactly. A script with none of them matches
//! everything, which makes it a good last fallback. A request that no
//! script matches, or that comes after the last step of every script that matches, gets HTTP
//! 400 naming the
//! problem (and is recorded), so a test sees at once that its script ran out.
//!
//! # Servers that differ
//!
//! A script may also say how the server behind it behaves whatever step comes next; a
//! request these rules refuse gets HTTP 400 (recorded, with `refused` set) and takes no step:
//!
//! ```toml
//! [[script]]
//! name = "small-window"
//! context_window = 4096                 # bigger prompts (4 bytes a token) get OpenAI's
//!                                       #   `context_length_exceeded`
//! rejects = ["parallel_tool_calls"]     # `unsupported_parameter`, as o-series models answer
//! reasoning = true                      # replies carry `reasoning_content`; an assistant
//!                                       #   tool-call message sent back without it is refused,
//!                                       #   as DeepSeek's thinking mode does
//! reply_tokens = 3000                   # a request whose max_tokens is smaller gets the next
//!                                       #   step's reply cut off (`length`), taking no step
//! tokens_per_second = 30                # each reply takes its completion tokens at this
//!                                       #   speed to arrive, as a local model's do
//! ```
//!
//! # Script format (TOML)
//!
//! ```toml
//! [[script]]
//! name = "developer"                    # recorded with each request it answers
//! system_contains = "You are the Developer"
//! # task_contains = "implement ENG-2"   # optional, a text in the first user message
//! # asked_contains = "round 2 of"       # optional, a text in any user message
//! # model = "dev-model"                 # optional, exact match on the request's `model`
//!
//! [[script.step]]                       # one step per request, in order
//! tool_calls = [
//!   { name = "read_file", arguments = { path = "src/lib.rs" } },
//!   { name = "list_files", arguments = { glob = "src/**" }, id = "call_fixed" },
//! ]
//!
//! [[script.step]]
//! fault = "rate_limited"                # 429; also: server_error, tool_calls_in_content,
//! retry_after = "2"                     #   missing_fields, invalid_json,
//!                                       #   context_length_exceeded (a 400)
//!
//! [[script.step]]
//! delay_ms = 1500                       # a slow reply
//! content = "Done."
//! tool_calls = [{ name = "finish", raw_arguments = "{\"summary\": \"fixed\"}" }]
//! usage = { prompt_tokens = 1200, completion_tokens = 40, cached_tokens = 1024 }
//!
//! [[script.step]]
//! content = "cut"
//! finish_reason = "length"              # any text, sent verbatim (unknown reasons too)
//! ```
//!
//! A step is a reply (`content` and/or `tool_calls`, optional `finish_reason` and `usage`)
//! or a `fault`. `finish_reason` defaults to `tool_calls` when there are tool calls, else
//! `stop`. Without `usage` the figures are estimated from the sizes (four bytes a token) and
//! `prompt_tokens_details` is left out; with `cached_tokens` it is sent. Tool call ids default
//! to `call_<script>_<step>_<position>` (1-based). `server_error` takes an optional
//! `status` (500–599); `tool_calls_in_content` writes the step's `tool_calls` as JSON text in
//! `content` with `finish_reason: "stop"`. The same scripts can be built in Rust with
//! [`Script`], [`Action`], [`Reply`] and [`ScriptedToolCall`].

mod script;
mod server;
mod wire;

pub use script::{
    Action, Reply, Script, ScriptBook, ScriptError, ScriptedToolCall, ScriptedUsage, ServerTraits,
    Step,
};
pub use server::{RecordedRequest, StandinModel};
