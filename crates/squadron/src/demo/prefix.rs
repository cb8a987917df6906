//! How much of each model request repeats the previous request of the same agent byte for
//! byte: the share a provider's prompt cache can serve. `squadron demo --keep DIR` writes it to
//! `DIR/prompt-prefix.txt`, and `cargo bench -p squadron --bench prompt_prefix` prints it.

use std::collections::BTreeMap;

use squadron_core::ports::TokenEncoding;
use squadron_harness::TokenCounter;
use squadron_standin_model::RecordedRequest;

/// Prompt tokens over a run, and how many of them were a byte-identical prefix of the same
/// agent's previous request; and, as a provider's cache is shared by every request sent with
/// one key, how many repeated the start of any earlier request at all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrefixReuse {
    /// Requests that had a previous request of the same agent (role and issue) to compare
    /// with.
    pub requests: usize,
    /// Tokens of those requests' messages.
    pub prompt_tokens: u64,
    /// Tokens of the parts that repeated the previous request's messages exactly.
    pub reused_tokens: u64,
    /// Requests that did not repeat the whole of their agent's previous request: its
    /// conversation was condensed, elided or started afresh.
    pub rewritten: usize,
    /// Every answered request after the first.
    pub all_requests: usize,
    /// Tokens of their messages.
    pub all_prompt_tokens: u64,
    /// Tokens of their longest start shared with any earlier request (another squad's
    /// request of the same role shares at least its system prompt).
    pub shared_tokens: u64,
    /// The same-agent figures per agent (`code-reviewer ENG-4`), to show where a prefix
    /// broke.
    pub agents: BTreeMap<String, AgentReuse>,
}

/// One agent's requests that had a previous request of it, and their tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentReuse {
    /// Requests compared.
    pub requests: usize,
    /// Their prompt tokens.
    pub prompt_tokens: u64,
    /// Tokens repeated from the agent's previous request.
    pub reused_tokens: u64,
    /// Requests that did not repeat the whole of the agent's previous request.
    pub rewritten: usize,
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

    /// The figures as `prompt-prefix.txt` and the benchmark print them: the totals, then each
    /// agent, those whose requests repeated least first.
    pub fn render(&self) -> String {
        let mut agents: Vec<(&String, &AgentReuse)> = self.agents.iter().collect();
        agents.sort_by_key(|(name, agent)| {
            (
                std::cmp::Reverse(agent.prompt_tokens - agent.reused_tokens),
                name.as_str(),
            )
        });
        let mut text = format!(
            "prompt prefix reuse: {:.1}% of {} prompt tokens over {} requests repeat the same agent's previous request ({} of them not whole); {:.1}% of {} over {} start like an earlier request of any agent\n",
            self.share() * 100.0,
            self.prompt_tokens,
            self.requests,
            self.rewritten,
            self.shared_share() * 100.0,
            self.all_prompt_tokens,
            self.all_requests
        );
        for (name, agent) in agents {
            text.push_str(&format!(
                "  {name}: {:.1}% of {} over {} requests, {} tokens not repeated{}\n",
                agent.reused_tokens as f64 * 100.0 / agent.prompt_tokens.max(1) as f64,
                agent.prompt_tokens,
                agent.requests,
                agent.prompt_tokens - agent.reused_tokens,
                if agent.rewritten == 0 {
                    String::new()
                } else {
                    format!(
                        ", {} not repeating the previous request whole",
                        agent.rewritten
                    )
                }
            ));
        }
        text
    }
}

/// Measures `requests` (in arrival order): each answered request is compared with the
/// previous request of the same agent (its role and the issue its task names, whatever
/// script answered and whether the agent started a new conversation), on the text of its
/// `messages` array as sent.
pub fn prefix_reuse(requests: &[RecordedRequest]) -> PrefixReuse {
    let counter = TokenCounter::new(TokenEncoding::O200kBase);
    let mut last: BTreeMap<String, &str> = BTreeMap::new();
    let mut reuse = PrefixReuse::default();
    for request in requests {
        let (Some(script), Some(messages)) = (request.script.as_deref(), messages(request)) else {
            continue;
        };
        let agent = agent_of(request).unwrap_or_else(|| script.to_owned());
        if let Some(previous) = last.insert(agent.clone(), messages) {
            let common = common_prefix(previous, messages);
            let (prompt, reused) = (counter.text(messages), counter.text(&messages[..common]));
            // All but the previous array's closing `]`, where this one goes on.
            let rewritten = usize::from(common + 1 < previous.len());
            reuse.requests += 1;
            reuse.prompt_tokens += prompt;
            reuse.reused_tokens += reused;
            reuse.rewritten += rewritten;
            let figures = reuse.agents.entry(agent).or_default();
            figures.requests += 1;
            figures.prompt_tokens += prompt;
            figures.reused_tokens += reused;
            figures.rewritten += rewritten;
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

/// The agent that sent `request`: the role its system prompt states (`- Role: developer`)
/// and the first issue identifier (`ENG-4`) on its task's first line.
fn agent_of(request: &RecordedRequest) -> Option<String> {
    let messages = request.body["messages"].as_array()?;
    let first = |role: &str| {
        messages
            .iter()
            .find(|message| message["role"] == role)
            .and_then(|message| message["content"].as_str())
    };
    let role = first("system")?
        .lines()
        .find_map(|line| line.strip_prefix("- Role: "))?;
    let task = first("user")?.lines().next()?;
    let issue = task
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|word| {
            word.split_once('-').is_some_and(|(team, number)| {
                !team.is_empty()
                    && team
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                    && !number.is_empty()
                    && number.chars().all(|c| c.is_ascii_digit())
            })
        })?;
    Some(format!("{role} {issue}"))
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
