//! How much of each model request repeats the previous request of the same agent byte for
//! byte: the share a provider's prompt cache can serve. `squadron demo --keep DIR` writes it to
//! `DIR/prompt-prefix.txt`, and `cargo bench -p squadron --bench prompt_prefix` prints it.

use squadron_core::ports::TokenEncoding;
use squadron_harness::TokenCounter;
use squadron_standin_model::RecordedRequest;

/// Prompt tokens over a run, and how many of them were a byte-identical prefix of the same
/// agent's previous request; and, as a provider's cache is shared by every request sent with
/// one key, how many repeated the start of any earlier request at all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrefixReuse {
    /// Requests that had a previous request of the same agent to compare with.
    pub requests: usize,
    /// Tokens of those requests' messages.
    pub prompt_tokens: u64,
    /// Tokens of the parts that repeated the previous request's messages exactly.
    pub reused_tokens: u64,
    /// Every answered request after the first.
    pub all_requests: usize,
    /// Tokens of their messages.
    pub all_prompt_tokens: u64,
    /// Tokens of their longest start shared with any earlier request (another squad's
    /// request of the same role shares at least its system prompt).
    pub shared_tokens: u64,
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

    /// The share of all prompt tokens that started like some earlier request, 0 to 1.
    pub fn shared_share(&self) -> f64 {
        if self.all_prompt_tokens == 0 {
            0.0
        } else {
            self.shared_tokens as f64 / self.all_prompt_tokens as f64
        }
    }

    /// The figures as `prompt-prefix.txt` and the benchmark print them.
    pub fn render(&self) -> String {
        format!(
            "prompt prefix reuse: {:.1}% of {} prompt tokens over {} requests repeat the same agent's previous request; {:.1}% of {} over {} start like an earlier request of any agent\n",
            self.share() * 100.0,
            self.prompt_tokens,
            self.requests,
            self.shared_share() * 100.0,
            self.all_prompt_tokens,
            self.all_requests
        )
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
    let sent: Vec<&str> = requests
        .iter()
        .filter(|request| request.script.is_some())
        .filter_map(messages)
        .collect();
    for (index, messages) in sent.iter().enumerate().skip(1) {
        let common = sent[..index]
            .iter()
            .map(|earlier| common_prefix(earlier, messages))
            .max()
            .unwrap_or(0);
        reuse.all_requests += 1;
        reuse.all_prompt_tokens += counter.text(messages);
        reuse.shared_tokens += counter.text(&messages[..common]);
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
