//! Token counting: OpenAI's tokenizers where the model's encoding is known, a conservative
//! estimate otherwise, so the turn loop can tell how full a model's context is before it
//! sends a request.

use std::sync::OnceLock;

use squadron_core::ports::{ChatMessage, TokenEncoding};
use tiktoken_rs::CoreBPE;

/// Tokens every message costs beyond its text (role and separators in the chat template).
const MESSAGE_OVERHEAD: u64 = 4;

/// Bytes per token assumed when no tokenizer is known. Code and JSON run at three to four
/// bytes a token in the tokenizers in use; three over-counts, which is the safe side.
const ESTIMATE_BYTES_PER_TOKEN: u64 = 3;

/// Counts tokens for one encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenCounter {
    encoding: TokenEncoding,
}

impl TokenCounter {
    /// A counter for `encoding`.
    pub fn new(encoding: TokenEncoding) -> Self {
        Self { encoding }
    }

    /// The encoding counted.
    pub fn encoding(&self) -> TokenEncoding {
        self.encoding
    }

    /// Tokens of `text`.
    pub fn text(&self, text: &str) -> u64 {
        let bpe = match self.encoding {
            TokenEncoding::O200kBase => o200k(),
            TokenEncoding::Cl100kBase => cl100k(),
            TokenEncoding::Estimate => None,
        };
        match bpe {
            Some(bpe) => u64::try_from(bpe.encode_ordinary(text).len()).unwrap_or(u64::MAX),
            None => estimate(text),
        }
    }

    /// Tokens of one message as sent.
    pub fn message(&self, message: &ChatMessage) -> u64 {
        let text = match message {
            ChatMessage::System { content } | ChatMessage::User { content } => self.text(content),
            ChatMessage::Assistant {
                content,
                tool_calls,
                reasoning,
            } => {
                let calls: u64 = tool_calls
                    .iter()
                    .map(|call| self.text(&call.name) + self.text(&call.arguments) + 8)
                    .sum();
                content.as_deref().map_or(0, |text| self.text(text))
                    + reasoning.as_deref().map_or(0, |text| self.text(text))
                    + calls
            }
            ChatMessage::Tool {
                tool_call_id,
                content,
            } => self.text(tool_call_id) + self.text(content),
        };
        text + MESSAGE_OVERHEAD
    }
}

fn estimate(text: &str) -> u64 {
    u64::try_from(text.len())
        .unwrap_or(u64::MAX)
        .div_ceil(ESTIMATE_BYTES_PER_TOKEN)
}

/// The tokenizers are built once per process: building one parses a vocabulary of 100k to
/// 200k entries, which takes far longer than counting a prompt.
fn o200k() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

fn cl100k() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::cl100k_base().ok()).as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_with_the_tokenizer_where_known_and_over_estimates_otherwise() {
        let text = "fn main() { println!(\"hello, world\"); }";
        let exact = TokenCounter::new(TokenEncoding::O200kBase).text(text);
        assert!((8..=16).contains(&exact), "{exact}");
        let estimated = TokenCounter::new(TokenEncoding::Estimate).text(text);
        assert!(estimated >= exact, "{estimated} < {exact}");
        assert_eq!(TokenCounter::new(TokenEncoding::Cl100kBase).text(""), 0);
    }
}
