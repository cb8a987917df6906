//! A snapshot of environment variables, passed in by the binary: libraries never read the
//! process environment themselves.

use std::collections::BTreeMap;
use std::fmt;

/// Environment variables as name → value. The binary builds one with
/// `Env::from_iter(std::env::vars())`; tests build their own.
///
/// The environment carries every credential, so `Debug` shows the names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Env(BTreeMap<String, String>);

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Env {
    /// No variables at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The value of `name` when set to something other than blanks.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|value| !value.trim().is_empty())
    }

    /// Sets `name` to `value`, returning the environment for chaining in tests.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.insert(name.into(), value.into());
        self
    }

    /// Every variable, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_names_but_never_values() {
        let env = Env::new().with("GITHUB_TOKEN_DEVELOPER", "ghp_secret");
        let shown = format!("{env:?}");
        assert!(shown.contains("GITHUB_TOKEN_DEVELOPER"), "{shown}");
        assert!(!shown.contains("ghp_secret"), "{shown}");
    }
}
