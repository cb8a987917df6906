//! How much of each model request repeats the previous request of the same agent byte for
//! byte: the share a provider's prompt cache can serve. `squadron demo --keep DIR` writes it to
//! `DIR/prompt-prefix.txt`, and `cargo bench -p squadron --bench prompt_prefix` prints it.

use squadron_core::ports::TokenEncoding;
use squadron_harness::TokenCounter;
use squadron_standin_model::RecordedRequest;

/// Prompt tokens over a run, and how many of them were a byte-identical prefix of the same
/// agent's previous request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrefixReuse {
    /// Requests that had a previous request of the same agent to compare with.
    pub requests: usize,
    /// Tokens of those requests' messages.
    pub prompt_tokens: u64,
    /// Tokens of the parts that repeated the previous request's messages exactly.
    pub reused_tokens: u64,
}

impl PrefixReuse {
    /// The reused share, 0 to 1.
    pub fn share(&self) -> f64 {
        if self.prompt_tokens == 0 {
            0.0
        } else {
            self.reused_tokens as f64 / self.prompt_tokens as f64
        }
    }
}

/// Measures `requests` (in arrival order): each answered request is compared with the
/// previous one its script answered, on the text of its `messages` array as sent.
pub fn prefix_reuse(requests: &[RecordedRequest]) -> PrefixReuse {
    let counter = TokenCounter::new(TokenEncoding::O200kBase);
    let mut last: std::collections::BTreeMap<&str, &str> = Default::default();
    let mut reuse = PrefixReuse::default();
    for request in requests {
        let (Some(script), Some(messages)) = (request.script.as_deref(), messages(request)) else {
            continue;
        };
        if let Some(previous) = last.insert(script, messages) {
            let common = common_prefix(previous, messages);
            reuse.requests += 1;
            reuse.prompt_tokens += counter.text(messages);
            reuse.reused_tokens += counter.text(&messages[..common]);
        }
    }
    reuse
}

/// The raw text of the request's `messages` array.
fn messages(request: &RecordedRequest) -> Option<&str> {
    let raw = request.raw_body.as_str();
    let start = raw.find("\"messages\":[")?;
    let end = raw[start..]
        .find("],\"model\"")
        .map_or(raw.len(), |end| start + end + 1);
    Some(&raw[start..end])
}

/// Bytes `a` and `b` share from their start, ending on a character boundary.
fn common_prefix(a: &str, b: &str) -> usize {
    let mut length = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !b.is_char_boundary(length) {
        length -= 1;
    }
    length
}
