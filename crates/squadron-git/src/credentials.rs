//! The token a network transfer authenticates with, kept out of logs and error messages.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A GitHub token (personal, fine-grained or App installation). Its `Debug` output is
/// redacted, and it offers no `Display`.
#[derive(Clone)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The `Authorization` header git sends: Basic `x-access-token:<token>`, which GitHub
    /// accepts for every token kind over HTTPS.
    pub(crate) fn authorization_header(&self) -> String {
        format!("Authorization: Basic {}", self.basic_credentials())
    }

    fn basic_credentials(&self) -> String {
        STANDARD.encode(format!("x-access-token:{}", self.0))
    }

    /// `text` with every form of the token git could echo replaced by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            return text.to_owned();
        }
        text.replace(&self.basic_credentials(), "***")
            .replace(&self.0, "***")
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_and_redaction_hide_the_token() {
        let token = AccessToken::new("ghs_secret123");
        assert_eq!(format!("{token:?}"), "AccessToken(***)");
        let header = token.authorization_header();
        let echoed = format!("fatal: token ghs_secret123 rejected; sent {header}");
        let redacted = token.redact(&echoed);
        assert!(!redacted.contains("ghs_secret123"));
        assert!(!redacted.contains(&token.basic_credentials()));
    }
}
