//! Scripts the stand-in plays: per role, the HTTP answers to give, in order.
//!
//! A script is chosen for each request by what the request says about itself (a text in its
//! first system message or in its first user message, or its `model` field), so concurrent
//! roles, and concurrent squads of one role, each get their own script. Scripts are written in TOML (see the crate documentation) or built in Rust.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// Every script of one stand-in, tried in order for each request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScriptBook {
    scripts: Vec<Script>,
}

impl ScriptBook {
    /// An empty book; add scripts with [`ScriptBook::with`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The book with `script` appended (tried after the ones already in it).
    #[must_use]
    pub fn with(mut self, script: Script) -> Self {
        self.scripts.push(script);
        self
    }

    /// Reads a book from TOML text; `origin` names the text in errors (e.g. a file path).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ScriptError> {
        let file: ScriptFile = toml::from_str(text).map_err(|source| ScriptError::Parse {
            origin: origin.to_owned(),
            message: source.to_string(),
        })?;
        let scripts = file
            .script
            .into_iter()
            .map(|spec| Script::from_spec(spec, origin))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { scripts })
    }

    /// Reads a book from a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ScriptError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
            origin: origin.clone(),
            source,
        })?;
        Self::from_toml(&text, &origin)
    }

    /// The scripts, in the order they are tried.
    pub fn scripts(&self) -> &[Script] {
        &self.scripts
    }

    pub(crate) fn into_scripts(self) -> Vec<Script> {
        self.scripts
    }
}

/// The answers for one role, and how to recognise that role's requests.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    name: String,
    system_contains: Option<String>,
    task_contains: Option<String>,
    asked_contains: Option<String>,
    model: Option<String>,
    server: ServerTraits,
    steps: Vec<Step>,
}

/// How the server behind a script behaves whatever step comes next: the ways real servers
/// differ that a client must cope with. A request these rules refuse gets HTTP 400 and
/// takes no step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerTraits {
    /// Prompts larger than this many tokens (estimated at four bytes a token) are refused
    /// with OpenAI's `context_length_exceeded`.
    pub context_window: Option<u64>,
    /// Request fields refused with OpenAI's `unsupported_parameter`, as o-series models
    /// refuse `parallel_tool_calls` and `max_tokens`.
    pub rejects: Vec<String>,
    /// Like DeepSeek's thinking mode: every reply carries `reasoning_content`, and a request
    /// whose assistant tool-call messages do not carry theirs back is refused.
    pub reasoning: bool,
    /// Like a model with a long answer to give: each reply takes this many tokens, so a
    /// request whose output limit (`max_tokens` or `max_completion_tokens`) is smaller gets
    /// the next step's reply cut off at that limit (`finish_reason: "length"`, tool call
    /// arguments cut short) and takes no step.
    pub reply_tokens: Option<u64>,
    /// Like a model generating at this speed: each reply arrives after its completion tokens
    /// (a cut-off reply's output limit) have been written at it, on top of the step's delay.
    pub tokens_per_second: Option<u64>,
}

impl Script {
    /// A script named `name` that matches every request until narrowed with
    /// [`Script::when_system_contains`], [`Script::when_task_contains`] or
    /// [`Script::when_model`].
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            system_contains: None,
            task_contains: None,
            asked_contains: None,
            model: None,
            server: ServerTraits::default(),
            steps: Vec::new(),
        }
    }

    /// This script with the server behaving as `server` says.
    #[must_use]
    pub fn with_server(mut self, server: ServerTraits) -> Self {
        self.server = server;
        self
    }

    /// How the server behaves for this script.
    pub fn server(&self) -> &ServerTraits {
        &self.server
    }

    /// Matches only requests whose first system message contains `marker`.
    #[must_use]
    pub fn when_system_contains(mut self, marker: impl Into<String>) -> Self {
        self.system_contains = Some(marker.into());
        self
    }

    /// Matches only requests whose first user message (the task the agent was given)
    /// contains `marker`: several squads of one role run at once, and the task names the
    /// issue, so this is how each squad gets its own script.
    #[must_use]
    pub fn when_task_contains(mut self, marker: impl Into<String>) -> Self {
        self.task_contains = Some(marker.into());
        self
    }

    /// Matches only requests with a user message that contains `marker`: the task, or a
    /// message that went on with the agent's conversation after it (a Developer's fix round
    /// continues its conversation of the implementation with the reviews), so one script
    /// serves a step whether it was asked in a fresh conversation or in a continued one.
    #[must_use]
    pub fn when_asked(mut self, marker: impl Into<String>) -> Self {
        self.asked_contains = Some(marker.into());
        self
    }

    /// Matches only requests whose `model` field equals `model`.
    #[must_use]
    pub fn when_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Appends a step answered at once.
    #[must_use]
    pub fn then(self, action: Action) -> Self {
        self.then_after(Duration::ZERO, action)
    }

    /// Appends a step answered after `delay` (a slow reply).
    #[must_use]
    pub fn then_after(mut self, delay: Duration, action: Action) -> Self {
        self.steps.push(Step {
            delay,
            action,
            held_until: None,
        });
        self
    }

    /// Appends a step answered once the test releases `gate`
    /// ([`StandinModel::release`](crate::StandinModel::release)).
    #[must_use]
    pub fn then_when_released(mut self, gate: impl Into<String>, action: Action) -> Self {
        self.steps.push(Step {
            delay: Duration::ZERO,
            action,
            held_until: Some(gate.into()),
        });
        self
    }

    /// The script's name, as recorded with each request it answered.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The steps, one per request answered.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    pub(crate) fn matches(&self, request: &RequestTraits<'_>) -> bool {
        let contains = |marker: &Option<String>, text: Option<&str>| {
            marker
                .as_deref()
                .is_none_or(|marker| text.is_some_and(|text| text.contains(marker)))
        };
        let model_ok = self
            .model
            .as_deref()
            .is_none_or(|wanted| request.model == Some(wanted));
        let asked = self.asked_contains.as_deref().is_none_or(|marker| {
            request
                .user_messages
                .iter()
                .any(|text| text.contains(marker))
        });
        contains(&self.system_contains, request.system_prompt)
            && contains(&self.task_contains, request.task)
            && asked
            && model_ok
    }

    fn from_spec(spec: ScriptSpec, origin: &str) -> Result<Self, ScriptError> {
        let steps = spec
            .step
            .into_iter()
            .enumerate()
            .map(|(index, step)| {
                Step::from_spec(step).map_err(|problem| ScriptError::Step {
                    origin: origin.to_owned(),
                    script: spec.name.clone(),
                    step: index + 1,
                    problem,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            name: spec.name,
            system_contains: spec.system_contains,
            task_contains: spec.task_contains,
            asked_contains: spec.asked_contains,
            model: spec.model,
            server: ServerTraits {
                context_window: spec.context_window,
                rejects: spec.rejects,
                reasoning: spec.reasoning,
                reply_tokens: spec.reply_tokens,
                tokens_per_second: spec.tokens_per_second,
            },
            steps,
        })
    }
}

/// What a request says about itself, as scripts are matched against it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RequestTraits<'a> {
    /// The first `system` message's text.
    pub(crate) system_prompt: Option<&'a str>,
    /// The first `user` message's text: the agent's task.
    pub(crate) task: Option<&'a str>,
    /// Every `user` message's text, the task first.
    pub(crate) user_messages: &'a [&'a str],
    /// The `model` field.
    pub(crate) model: Option<&'a str>,
}

/// One answer of a script: an optional delay, then what to send.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// How long to wait before answering.
    pub delay: Duration,
    /// What to answer.
    pub action: Action,
    /// A gate the answer waits for: the stand-in answers only once the test opened it with
    /// [`StandinModel::release`](crate::StandinModel::release), so a squad can be held at a
    /// point of its work until something else happened.
    pub held_until: Option<String>,
}

/// What the stand-in sends for one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A well-formed chat completion.
    Reply(Reply),
    /// HTTP 429 with an OpenAI `rate_limit_exceeded` error and, if given, this `Retry-After`
    /// header value (seconds or an HTTP date, sent verbatim).
    RateLimited {
        /// The `Retry-After` header value.
        retry_after: Option<String>,
    },
    /// An HTTP 5xx answer with an OpenAI `server_error` body.
    ServerError {
        /// The status, 500 to 599.
        status: u16,
    },
    /// A 200 answer whose message writes the reply's tool calls as JSON text in `content`
    /// with no `tool_calls`, as some proxies do.
    ToolCallsInContent(Reply),
    /// A 200 answer that lacks `choices` (and so everything in them).
    MissingFields,
    /// A 200 answer whose body is not JSON.
    InvalidJson,
    /// HTTP 400 with OpenAI's `context_length_exceeded` error (a 128k window), whatever the
    /// request's size.
    ContextLengthExceeded,
}

/// A chat completion to send.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reply {
    /// The message text; `null` on the wire when absent.
    pub content: Option<String>,
    /// The tool calls, in order.
    pub tool_calls: Vec<ScriptedToolCall>,
    /// The `finish_reason` sent verbatim; by default `tool_calls` when there are tool calls,
    /// else `stop`. Any text is allowed, so unknown reasons and `length` can be scripted.
    pub finish_reason: Option<String>,
    /// The usage to report; by default estimated from the sizes of request and reply,
    /// without `prompt_tokens_details`.
    pub usage: Option<ScriptedUsage>,
}

impl Reply {
    /// A reply with plain text only.
    pub fn text(content: impl Into<String>) -> Self {
        Self {
            content: Some(content.into()),
            ..Self::default()
        }
    }

    /// A reply making these tool calls, with `content: null`.
    pub fn tool_calls(calls: impl IntoIterator<Item = ScriptedToolCall>) -> Self {
        Self {
            tool_calls: calls.into_iter().collect(),
            ..Self::default()
        }
    }

    /// This reply with `finish_reason` sent verbatim.
    #[must_use]
    pub fn finish_reason(mut self, reason: impl Into<String>) -> Self {
        self.finish_reason = Some(reason.into());
        self
    }

    /// This reply with fixed usage figures.
    #[must_use]
    pub fn usage(mut self, usage: ScriptedUsage) -> Self {
        self.usage = Some(usage);
        self
    }

    pub(crate) fn effective_finish_reason(&self) -> &str {
        match &self.finish_reason {
            Some(reason) => reason,
            None if self.tool_calls.is_empty() => "stop",
            None => "tool_calls",
        }
    }
}

/// One tool call of a scripted reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptedToolCall {
    /// The call id; by default `call_<script>_<request number>_<position>`.
    pub id: Option<String>,
    /// The tool named.
    pub name: String,
    /// The arguments as the JSON text to send (may be deliberately invalid).
    pub arguments: String,
}

impl ScriptedToolCall {
    /// A call of `name` with `arguments` serialised as JSON.
    pub fn new(name: impl Into<String>, arguments: &serde_json::Value) -> Self {
        Self {
            id: None,
            name: name.into(),
            arguments: arguments.to_string(),
        }
    }

    /// A call whose arguments are sent exactly as `raw`, e.g. to send invalid JSON.
    pub fn raw(name: impl Into<String>, raw: impl Into<String>) -> Self {
        Self {
            id: None,
            name: name.into(),
            arguments: raw.into(),
        }
    }

    /// This call with a fixed id.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}

/// Usage figures of a scripted reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptedUsage {
    /// All prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Cached prompt tokens; when present, `prompt_tokens_details` is sent.
    pub cached_tokens: Option<u64>,
}

/// A script that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The file could not be read.
    #[error("read stand-in script `{origin}`")]
    Read {
        /// The file.
        origin: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid TOML of the script format.
    #[error("parse stand-in script `{origin}`: {message}")]
    Parse {
        /// The file or text.
        origin: String,
        /// The parser's explanation, with line and column.
        message: String,
    },
    /// A step's fields do not make sense together.
    #[error("load step {step} of script `{script}` in `{origin}`: {problem}")]
    Step {
        /// The file or text.
        origin: String,
        /// The script's name.
        script: String,
        /// The step, counted from 1.
        step: usize,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptFile {
    #[serde(default)]
    script: Vec<ScriptSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptSpec {
    name: String,
    system_contains: Option<String>,
    task_contains: Option<String>,
    asked_contains: Option<String>,
    model: Option<String>,
    context_window: Option<u64>,
    #[serde(default)]
    rejects: Vec<String>,
    #[serde(default)]
    reasoning: bool,
    reply_tokens: Option<u64>,
    tokens_per_second: Option<u64>,
    #[serde(default)]
    step: Vec<StepSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSpec {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallSpec>,
    finish_reason: Option<String>,
    usage: Option<UsageSpec>,
    delay_ms: Option<u64>,
    fault: Option<FaultSpec>,
    retry_after: Option<String>,
    status: Option<u16>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolCallSpec {
    id: Option<String>,
    name: String,
    arguments: Option<toml::Value>,
    raw_arguments: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageSpec {
    prompt_tokens: u64,
    completion_tokens: u64,
    cached_tokens: Option<u64>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FaultSpec {
    RateLimited,
    ServerError,
    ToolCallsInContent,
    MissingFields,
    InvalidJson,
    ContextLengthExceeded,
}

impl Step {
    fn from_spec(spec: StepSpec) -> Result<Self, String> {
        let delay = Duration::from_millis(spec.delay_ms.unwrap_or(0));
        let has_reply_fields = spec.content.is_some()
            || !spec.tool_calls.is_empty()
            || spec.finish_reason.is_some()
            || spec.usage.is_some();
        if spec.retry_after.is_some() && !matches!(spec.fault, Some(FaultSpec::RateLimited)) {
            return Err("`retry_after` belongs only to `fault = \"rate_limited\"`".to_owned());
        }
        if spec.status.is_some() && !matches!(spec.fault, Some(FaultSpec::ServerError)) {
            return Err("`status` belongs only to `fault = \"server_error\"`".to_owned());
        }
        let reply = || -> Result<Reply, String> {
            let tool_calls = spec
                .tool_calls
                .iter()
                .map(ToolCallSpec::to_call)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Reply {
                content: spec.content.clone(),
                tool_calls,
                finish_reason: spec.finish_reason.clone(),
                usage: spec.usage.as_ref().map(|usage| ScriptedUsage {
                    prompt_tokens: usage.prompt_tokens,
                    completion_tokens: usage.completion_tokens,
                    cached_tokens: usage.cached_tokens,
                }),
            })
        };
        let no_reply_fields = |fault: &str| {
            if has_reply_fields {
                Err(format!(
                    "`fault = \"{fault}\"` sends no message: remove `content`, `tool_calls`, \
                     `finish_reason` and `usage` from this step"
                ))
            } else {
                Ok(())
            }
        };
        let action = match spec.fault {
            None => {
                if !has_reply_fields {
                    return Err("a step needs `content`, `tool_calls` or a `fault`".to_owned());
                }
                Action::Reply(reply()?)
            }
            Some(FaultSpec::RateLimited) => {
                no_reply_fields("rate_limited")?;
                Action::RateLimited {
                    retry_after: spec.retry_after.clone(),
                }
            }
            Some(FaultSpec::ServerError) => {
                no_reply_fields("server_error")?;
                let status = spec.status.unwrap_or(500);
                if !(500..=599).contains(&status) {
                    return Err(format!("`status = {status}` is not a 5xx status"));
                }
                Action::ServerError { status }
            }
            Some(FaultSpec::ToolCallsInContent) => {
                if spec.tool_calls.is_empty() {
                    return Err(
                        "`fault = \"tool_calls_in_content\"` needs the `tool_calls` to \
                                write into `content`"
                            .to_owned(),
                    );
                }
                Action::ToolCallsInContent(reply()?)
            }
            Some(FaultSpec::MissingFields) => {
                no_reply_fields("missing_fields")?;
                Action::MissingFields
            }
            Some(FaultSpec::InvalidJson) => {
                no_reply_fields("invalid_json")?;
                Action::InvalidJson
            }
            Some(FaultSpec::ContextLengthExceeded) => {
                no_reply_fields("context_length_exceeded")?;
                Action::ContextLengthExceeded
            }
        };
        Ok(Step {
            delay,
            action,
            held_until: None,
        })
    }
}

impl ToolCallSpec {
    fn to_call(&self) -> Result<ScriptedToolCall, String> {
        let arguments = match (&self.arguments, &self.raw_arguments) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "tool call `{}` has both `arguments` and `raw_arguments`: keep one",
                    self.name
                ));
            }
            (Some(arguments), None) => serde_json::to_string(arguments).map_err(|error| {
                format!(
                    "tool call `{}` has arguments that are not JSON: {error}",
                    self.name
                )
            })?,
            (None, Some(raw)) => raw.clone(),
            (None, None) => "{}".to_owned(),
        };
        Ok(ScriptedToolCall {
            id: self.id.clone(),
            name: self.name.clone(),
            arguments,
        })
    }
}
