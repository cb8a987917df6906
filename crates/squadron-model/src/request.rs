//! Turns a port [`ChatRequest`] into the chat-completions request body, using async-openai's
//! wire types so the shape is the one OpenAI publishes.

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, ChatCompletionTool, ChatCompletionToolChoiceOption,
    ChatCompletionTools, CreateChatCompletionRequest, FunctionCall, FunctionObject,
    ToolChoiceOptions,
};
use squadron_core::ports::{ChatMessage, ChatRequest, PortError, PortErrorKind, ToolSpec};

/// The JSON body for `request`. Serialisation is deterministic, so a conversation that only
/// grows yields bodies whose message prefix is byte-identical (providers cache such prefixes).
pub(crate) fn request_body(request: &ChatRequest) -> Result<Vec<u8>, PortError> {
    let tools = request
        .tools
        .iter()
        .map(tool)
        .collect::<Result<Vec<ChatCompletionTools>, PortError>>()?;
    let has_tools = !tools.is_empty();
    let body = CreateChatCompletionRequest {
        model: request.model.clone(),
        messages: request.messages.iter().map(message).collect(),
        // OpenAI refuses `tool_choice` and `parallel_tool_calls` when no tools are given.
        tool_choice: has_tools.then_some(ChatCompletionToolChoiceOption::Mode(
            ToolChoiceOptions::Auto,
        )),
        parallel_tool_calls: has_tools.then_some(true),
        tools: has_tools.then_some(tools),
        ..CreateChatCompletionRequest::default()
    };
    serde_json::to_vec(&body).map_err(|source| {
        PortError::new(
            PortErrorKind::Internal,
            "serialise the chat-completions request",
        )
        .with_source(source)
    })
}

fn tool(spec: &ToolSpec) -> Result<ChatCompletionTools, PortError> {
    let parameters: serde_json::Value =
        serde_json::from_str(&spec.parameters).map_err(|source| {
            PortError::new(
                PortErrorKind::Invalid,
                format!(
                    "send tool `{}`: its parameters are not a JSON Schema in JSON text",
                    spec.name
                ),
            )
            .with_source(source)
        })?;
    Ok(ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObject {
            name: spec.name.clone(),
            description: Some(spec.description.clone()),
            parameters: Some(parameters),
            strict: None,
        },
    }))
}

fn message(message: &ChatMessage) -> ChatCompletionRequestMessage {
    match message {
        ChatMessage::System { content } => {
            ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                content: ChatCompletionRequestSystemMessageContent::Text(content.clone()),
                name: None,
            })
        }
        ChatMessage::User { content } => {
            ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                content: ChatCompletionRequestUserMessageContent::Text(content.clone()),
                name: None,
            })
        }
        ChatMessage::Assistant {
            content,
            tool_calls,
        } => {
            let calls = tool_calls
                .iter()
                .map(|call| {
                    ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                        id: call.id.clone(),
                        function: FunctionCall {
                            name: call.name.clone(),
                            arguments: call.arguments.clone(),
                        },
                    })
                })
                .collect::<Vec<_>>();
            ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                content: content
                    .clone()
                    .map(ChatCompletionRequestAssistantMessageContent::Text),
                tool_calls: (!calls.is_empty()).then_some(calls),
                ..ChatCompletionRequestAssistantMessage::default()
            })
        }
        ChatMessage::Tool {
            tool_call_id,
            content,
        } => ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
            content: ChatCompletionRequestToolMessageContent::Text(content.clone()),
            tool_call_id: tool_call_id.clone(),
        }),
    }
}
