//! Where the store lives: a SQLite file (the default, nothing to install) or a PostgreSQL
//! database (when several daemons share the work), chosen from one path-or-URL string.

use std::fmt;
use std::path::{Path, PathBuf};

use directories::ProjectDirs;

use crate::error::{StoreError, StoreErrorKind};

/// The file name of the default SQLite database inside Squadron's data directory.
pub const DEFAULT_SQLITE_FILE: &str = "squadron.db";

/// Which database to open.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite database file, created with its parent directories on first use.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by `postgres://` or `postgresql://` URL.
    Postgres(String),
}

impl StoreLocation {
    /// Reads a location the way a user writes it: a `postgres://` or `postgresql://` URL, a
    /// `sqlite:` URL, or else a path to a SQLite file. Other URL schemes are refused.
    pub fn parse(value: &str) -> Result<StoreLocation, StoreError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(StoreError::new(
                StoreErrorKind::Open,
                "use an empty database location: pass a SQLite file path or a postgres:// URL",
            ));
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            return Ok(StoreLocation::Postgres(value.to_owned()));
        }
        if let Some(path) = value
            .strip_prefix("sqlite://")
            .or_else(|| value.strip_prefix("sqlite:"))
        {
            return Ok(StoreLocation::Sqlite(PathBuf::from(path)));
        }
        // `C:\…` on Windows has a one-letter "scheme"; anything longer before `://` is a URL
        // for a database Squadron does not support.
        if let Some((scheme, _)) = value.split_once("://")
            && scheme.len() > 1
        {
            return Err(StoreError::new(
                StoreErrorKind::Open,
                format!(
                    "use database `{}`: the `{scheme}` scheme is not supported (use a \
                     postgres:// URL or a SQLite file path)",
                    redact(value)
                ),
            ));
        }
        Ok(StoreLocation::Sqlite(PathBuf::from(value)))
    }

    /// The default: `squadron.db` in the platform's data directory for Squadron
    /// (`~/.local/share/squadron` on Linux, `~/Library/Application Support/squadron` on
    /// macOS).
    pub fn default_sqlite() -> Result<StoreLocation, StoreError> {
        let dirs = ProjectDirs::from("", "", "squadron").ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::Open,
                "find the data directory for the default database: no home directory is known \
                 (pass a SQLite file path or a postgres:// URL explicitly)",
            )
        })?;
        Ok(StoreLocation::Sqlite(
            dirs.data_dir().join(DEFAULT_SQLITE_FILE),
        ))
    }

    /// The SQLite file, if this is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            StoreLocation::Sqlite(path) => Some(path),
            StoreLocation::Postgres(_) => None,
        }
    }

    /// The backend's name, for messages.
    pub fn backend(&self) -> &'static str {
        match self {
            StoreLocation::Sqlite(_) => "SQLite",
            StoreLocation::Postgres(_) => "PostgreSQL",
        }
    }
}

/// Shows the path, or the URL with any password replaced by `***`.
impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

/// Same as `Display`, so a password never reaches a log through `{:?}` either.
impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            StoreLocation::Postgres(url) => f.debug_tuple("Postgres").field(&redact(url)).finish(),
        }
    }
}

/// A database URL with its password (and a `password=` query parameter) replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Only URLs that cannot have credentials refuse a password; this one has one.
                let _ = parsed.set_password(Some("***"));
            }
            if parsed.query_pairs().any(|(key, _)| key == "password") {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(key, value)| {
                        let value = if key == "password" {
                            "***".into()
                        } else {
                            value.into_owned()
                        };
                        (key.into_owned(), value)
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        // Unparseable: hide everything between the scheme and the host, where a password
        // would be.
        Err(_) => match (url.split_once("://"), url.rfind('@')) {
            (Some((scheme, _)), Some(at)) => format!("{scheme}://***{}", &url[at..]),
            _ => url.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_paths() {
        assert_eq!(
            StoreLocation::parse("postgres://u@h/db").unwrap(),
            StoreLocation::Postgres("postgres://u@h/db".into())
        );
        assert_eq!(
            StoreLocation::parse("postgresql://h/db").unwrap(),
            StoreLocation::Postgres("postgresql://h/db".into())
        );
        assert_eq!(
            StoreLocation::parse("sqlite:///var/lib/s.db").unwrap(),
            StoreLocation::Sqlite("/var/lib/s.db".into())
        );
        assert_eq!(
            StoreLocation::parse("data/s.db").unwrap(),
            StoreLocation::Sqlite("data/s.db".into())
        );
        let error = StoreLocation::parse("mysql://root:hunter2@h/db").unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::Open);
        assert!(
            error
                .to_string()
                .contains("`mysql` scheme is not supported"),
            "{error}"
        );
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn redacts_passwords_everywhere_they_hide() {
        assert_eq!(
            redact("postgres://u:hunter2@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact("postgres://u@h/db?password=hunter2&x=1"),
            "postgres://u@h/db?password=***&x=1"
        );
        assert_eq!(
            redact("postgres://u:hunter2@h:notaport/db"),
            "postgres://***@h:notaport/db"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        let location = StoreLocation::Postgres("postgres://u:hunter2@h/db".into());
        assert!(!format!("{location} {location:?}").contains("hunter2"));
    }
}
