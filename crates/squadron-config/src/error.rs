//! Errors of configuration loading: each names where the bad value came from, its key path,
//! the value and what would be valid.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Where a configuration value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The defaults compiled into the binary (`config/squadron.toml`).
    Shipped,
    /// A configuration file given with `--config` or `SQUADRON_CONFIG`.
    File(PathBuf),
    /// An environment variable `SQUADRON_<SECTION>_<KEY>`.
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Shipped => f.write_str("in the shipped defaults"),
            Origin::File(path) => write!(f, "in {}", path.display()),
            Origin::Env(var) => write!(f, "from environment variable {var}"),
        }
    }
}

/// A dotted key path such as `limits.concurrency` or `providers.openai.models."gpt-4.1"`.
///
/// Segments that are not bare TOML keys are quoted, so the path can be pasted into a file.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyPath(Vec<String>);

impl KeyPath {
    /// A path from its segments.
    pub fn new<S: Into<String>>(segments: impl IntoIterator<Item = S>) -> Self {
        Self(segments.into_iter().map(Into::into).collect())
    }

    /// The path's segments, outermost first.
    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// This path extended by one segment.
    pub fn join(&self, segment: impl Into<String>) -> Self {
        let mut segments = self.0.clone();
        segments.push(segment.into());
        Self(segments)
    }

    /// This path extended by an array index, shown as `key[index]`.
    pub fn index(&self, index: usize) -> Self {
        self.join(format!("[{index}]"))
    }

    /// The enclosing path, or `None` at the root.
    pub fn parent(&self) -> Option<KeyPath> {
        let (_, parent) = self.0.split_last()?;
        Some(Self(parent.to_vec()))
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, segment) in self.0.iter().enumerate() {
            if segment.starts_with('[') && segment.ends_with(']') {
                f.write_str(segment)?;
                continue;
            }
            if index > 0 {
                f.write_str(".")?;
            }
            let bare = !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if bare {
                f.write_str(segment)?;
            } else {
                write!(f, "{segment:?}")?;
            }
        }
        Ok(())
    }
}

/// The broad class of a [`ConfigError`], for callers that react differently to each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The file could not be read.
    Io,
    /// The file is not valid TOML.
    Syntax,
    /// A key (or `SQUADRON_*` environment variable) that Squadron does not know.
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong type or outside what is valid.
    InvalidValue,
}

/// Configuration that cannot be used. Every message names the source and what would be valid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("could not read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why reading failed.
        #[source]
        source: io::Error,
    },
    /// The configuration file is not valid TOML.
    #[error("invalid TOML {origin}{}: {message}", location(*line, *column))]
    Syntax {
        /// The file.
        origin: Origin,
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// 1-based column of the problem, when known.
        column: Option<usize>,
        /// The parser's description.
        message: String,
    },
    /// A key Squadron does not know, usually a typo.
    #[error("unknown key `{key}` {origin}: expected {valid}")]
    UnknownKey {
        /// The unknown key's full path.
        key: KeyPath,
        /// Where it was written.
        origin: Origin,
        /// The keys valid at that place, ready to read (``one of `a`, `b` ``).
        valid: String,
    },
    /// A `SQUADRON_<SECTION>_…` environment variable that matches no key.
    #[error("unknown environment variable {var}: expected {valid}")]
    UnknownEnvVar {
        /// The variable's name.
        var: String,
        /// The variables valid for that section, ready to read.
        valid: String,
    },
    /// A required key is absent.
    #[error("{key} is missing {origin}: {expected}")]
    MissingKey {
        /// The missing key's full path.
        key: KeyPath,
        /// Where the enclosing table was written.
        origin: Origin,
        /// What to add.
        expected: String,
    },
    /// A value of the wrong type or outside what is valid.
    #[error("{key} = {value} {origin}: {expected}")]
    InvalidValue {
        /// The key's full path.
        key: KeyPath,
        /// The offending value as written (secrets are shown as `[redacted]`).
        value: String,
        /// Where it was written.
        origin: Origin,
        /// What would be valid.
        expected: String,
    },
}

impl ConfigError {
    /// The broad class of the error.
    pub fn kind(&self) -> ConfigErrorKind {
        match self {
            ConfigError::Read { .. } => ConfigErrorKind::Io,
            ConfigError::Syntax { .. } => ConfigErrorKind::Syntax,
            ConfigError::UnknownKey { .. } | ConfigError::UnknownEnvVar { .. } => {
                ConfigErrorKind::UnknownKey
            }
            ConfigError::MissingKey { .. } => ConfigErrorKind::MissingKey,
            ConfigError::InvalidValue { .. } => ConfigErrorKind::InvalidValue,
        }
    }

    /// The key path the error is about, when it is about one key.
    pub fn key(&self) -> Option<&KeyPath> {
        match self {
            ConfigError::UnknownKey { key, .. }
            | ConfigError::MissingKey { key, .. }
            | ConfigError::InvalidValue { key, .. } => Some(key),
            ConfigError::Read { .. }
            | ConfigError::Syntax { .. }
            | ConfigError::UnknownEnvVar { .. } => None,
        }
    }
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" at line {line}, column {column}"),
        (Some(line), None) => format!(" at line {line}"),
        _ => String::new(),
    }
}

/// ``one of `a`, `b`, `c` `` (or `` `a` `` alone), for "expected …" messages.
pub(crate) fn one_of<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let quoted: Vec<String> = items
        .into_iter()
        .map(|item| format!("`{}`", item.as_ref()))
        .collect();
    match quoted.as_slice() {
        [] => "no keys here".to_owned(),
        [single] => single.clone(),
        _ => format!("one of {}", quoted.join(", ")),
    }
}

/// A 1-based line and column of a byte offset in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |tail| tail.chars().count())
        + 1;
    (line, column)
}
