//! The `[sandbox]` table of a repository's `.squadron.toml`: what its commands need from the
//! host to run at all (toolchain variables and read-only toolchain directories), caches kept
//! per repository, and a setup command run once per worktree before any agent.
//!
//! The daemon's environment holds Squadron's own credentials, so nothing is passed through
//! that looks like a secret or that the configuration names as one, and no mount may expose
//! the daemon's data or a credential store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::command_line::CommandLine;
use crate::env::Env;
use crate::error::{ConfigError, KeyPath, Origin};

/// The `PATH` commands get when the repository does not set one.
pub const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Fragments of variable names that mark a credential; such variables never reach a command.
const SECRET_NAME_MARKERS: [&str; 8] = [
    "TOKEN",
    "KEY",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "AUTH",
    "COOKIE",
];

/// Whether a variable name looks like it holds a credential.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAME_MARKERS
        .iter()
        .any(|marker| upper.contains(marker))
}

/// Variables the sandbox sets itself.
const SANDBOX_VARIABLES: [&str; 2] = ["HOME", "TMPDIR"];

/// Directories that hold credentials; a mount may neither be one nor contain one.
const CREDENTIAL_STORES: [&str; 9] = [
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".kube",
    ".docker",
    ".config",
    ".netrc",
    ".git-credentials",
];

/// Files inside a toolchain directory that may hold a registry token (cargo's
/// `credentials.toml`, npm's `.npmrc`…): commands see them hidden.
const CREDENTIAL_FILES: [&str; 8] = [
    "credentials",
    "credentials.toml",
    ".credentials.toml",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".git-credentials",
    "auth.json",
];

/// What the daemon's host offers a repository's commands. The binary builds it from its own
/// environment and configuration; the repository's settings take from it only what they name.
#[derive(Clone, Debug)]
pub struct HostEnvironment {
    /// The daemon's environment.
    pub env: Env,
    /// The `PATH` commands get unless the repository sets one.
    pub default_path: String,
    /// Variables that carry Squadron's own secrets or state (the configuration's `*_env`
    /// names, `DATABASE_URL`…): never passed through, whatever their names look like.
    pub reserved_variables: BTreeSet<String>,
    /// Directories no mount may reach into or contain (the daemon's data directory, with
    /// the store, the mirrors and every squad's worktree).
    pub reserved_dirs: Vec<PathBuf>,
}

impl HostEnvironment {
    /// A host that offers nothing: no variables, the system `PATH`.
    pub fn bare() -> HostEnvironment {
        HostEnvironment {
            env: Env::new(),
            default_path: SYSTEM_PATH.to_owned(),
            reserved_variables: BTreeSet::new(),
            reserved_dirs: Vec::new(),
        }
    }
}

/// `[sandbox]` as written.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSandbox {
    pass_env: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    mounts: Option<Vec<String>>,
    caches: Option<Vec<String>>,
    setup: Option<CommandLine>,
    setup_network: Option<bool>,
}

/// A repository's sandbox needs, validated against the host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepoSandbox {
    /// Variables every command gets: those passed through from the host, then those the file
    /// sets (which win).
    pub env: BTreeMap<String, String>,
    /// Names of `pass_env` the host does not set, or whose value was withheld, with why.
    pub withheld_env: Vec<String>,
    /// Host directories mounted read-only at the same path (toolchains).
    pub mounts: Vec<PathBuf>,
    /// Files inside the mounts that commands must not see (registry credentials).
    pub masked: Vec<PathBuf>,
    /// Variables each set to a directory the daemon keeps per repository and reuses across
    /// squads (build directories, package caches).
    pub caches: Vec<String>,
    /// Run once per worktree before any agent, with the worktree and caches writable.
    pub setup: Option<CommandLine>,
    /// Whether the setup command may reach the network (no other command ever can).
    pub setup_network: bool,
}

impl RepoSandbox {
    /// The `PATH` the repository's commands run with.
    pub fn path<'a>(&'a self, host: &'a HostEnvironment) -> &'a str {
        self.env
            .get("PATH")
            .map_or(host.default_path.as_str(), String::as_str)
    }
}

/// Validates `[sandbox]` against `host`.
pub(crate) fn resolve(
    raw: RawSandbox,
    host: &HostEnvironment,
    origin: &Origin,
) -> Result<RepoSandbox, ConfigError> {
    let invalid = |key: KeyPath, value: String, expected: String| ConfigError::InvalidValue {
        key,
        value,
        origin: origin.clone(),
        expected,
    };
    let table = KeyPath::new(["sandbox"]);
    let mut sandbox = RepoSandbox {
        setup: raw.setup,
        setup_network: raw.setup_network.unwrap_or(true),
        ..RepoSandbox::default()
    };

    for (index, name) in raw.pass_env.unwrap_or_default().into_iter().enumerate() {
        let key = table.join("pass_env").index(index);
        check_variable(&name, host)
            .map_err(|problem| invalid(key.clone(), format!("{name:?}"), problem))?;
        match host.env.get(&name) {
            None => sandbox
                .withheld_env
                .push(format!("{name}: not set on this host")),
            Some(value) if carries_credentials(value) => sandbox.withheld_env.push(format!(
                "{name}: its value holds a password (user:password@ in a URL), so it is withheld"
            )),
            Some(value) => {
                sandbox.env.insert(name, value.to_owned());
            }
        }
    }
    for (name, written) in raw.env.unwrap_or_default() {
        let key = table.join("env").join(name.clone());
        let value = check_variable(&name, host)
            .and_then(|()| expand(&written, host))
            .map_err(|problem| invalid(key.clone(), format!("{written:?}"), problem))?
            .to_string_lossy()
            .into_owned();
        if value.contains('\0') {
            return Err(invalid(
                key,
                format!("{written:?}"),
                "must not contain a NUL character".to_owned(),
            ));
        }
        if carries_credentials(&value) && !carries_credentials(&written) {
            return Err(invalid(
                key,
                format!("{written:?}"),
                "expands to a value holding a password (user:password@ in a URL); commands never see credentials"
                    .to_owned(),
            ));
        }
        sandbox.env.insert(name, value);
    }
    for (index, name) in raw.caches.unwrap_or_default().into_iter().enumerate() {
        let key = table.join("caches").index(index);
        check_variable(&name, host)
            .map_err(|problem| invalid(key.clone(), format!("{name:?}"), problem))?;
        if name == "PATH" || sandbox.env.contains_key(&name) || sandbox.caches.contains(&name) {
            return Err(invalid(
                key,
                format!("{name:?}"),
                "names a variable that is already set by pass_env, env or another cache (or is PATH)"
                    .to_owned(),
            ));
        }
        sandbox.caches.push(name);
    }
    for (index, written) in raw.mounts.unwrap_or_default().into_iter().enumerate() {
        let key = table.join("mounts").index(index);
        let path = expand(&written, host)
            .and_then(|path| check_mount(&path, host).map(|()| path))
            .map_err(|problem| invalid(key, format!("{written:?}"), problem))?;
        if sandbox.mounts.contains(&path) {
            continue;
        }
        for file in CREDENTIAL_FILES {
            let candidate = path.join(file);
            if std::fs::symlink_metadata(&candidate).is_ok() {
                sandbox.masked.push(candidate);
            }
        }
        sandbox.mounts.push(path);
    }
    Ok(sandbox)
}

/// Why `name` may not be given to commands, if it may not.
fn check_variable(name: &str, host: &HostEnvironment) -> Result<(), String> {
    let well_formed = name
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
        return Err("is not a variable name (letters, digits and `_`)".to_owned());
    }
    if is_secret_name(name) {
        return Err(
            "looks like a credential (TOKEN, KEY, SECRET, PASSWORD, AUTH…); commands never see credentials"
                .to_owned(),
        );
    }
    if host.reserved_variables.contains(name) || name.starts_with("SQUADRON_") {
        return Err(
            "carries one of Squadron's own secrets or settings; commands never see it".to_owned(),
        );
    }
    if SANDBOX_VARIABLES.contains(&name) {
        return Err("is set by the sandbox itself (to a private temp directory)".to_owned());
    }
    Ok(())
}

/// Whether a value is a URL with a password in it (`scheme://user:password@host`).
fn carries_credentials(value: &str) -> bool {
    value.split("://").skip(1).any(|rest| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        authority
            .rsplit_once('@')
            .is_some_and(|(userinfo, _)| userinfo.contains(':'))
    })
}

/// `~/` and `${NAME}` expanded from the host's environment (names that may not reach commands
/// may not be expanded into them either).
fn expand(written: &str, host: &HostEnvironment) -> Result<PathBuf, String> {
    let mut text = match written.strip_prefix("~/") {
        Some(rest) => {
            let home = host
                .env
                .non_empty("HOME")
                .ok_or("starts with `~/` but HOME is not set on this host")?;
            format!("{}/{rest}", home.trim_end_matches('/'))
        }
        None => written.to_owned(),
    };
    while let Some(start) = text.find("${") {
        let end = text[start..]
            .find('}')
            .map(|end| start + end)
            .ok_or("has an unclosed `${`")?;
        let name = &text[start + 2..end];
        check_variable(name, host)
            .map_err(|problem| format!("names ${{{name}}}, which {problem}"))?;
        let value = host
            .env
            .non_empty(name)
            .ok_or_else(|| format!("names ${{{name}}}, which is not set on this host"))?;
        text.replace_range(start..=end, value);
    }
    Ok(PathBuf::from(text))
}

/// The credential store `path` lies in, if any: `.ssh`, `.aws`… anywhere, and the tools'
/// credential directories under `.config` (the rest of `.config` holds harmless settings).
fn credential_store_around(path: &Path) -> Option<String> {
    const UNDER_CONFIG: [&str; 4] = ["gh", "gcloud", "hub", "git"];
    let names: Vec<&str> = path
        .components()
        .filter_map(|part| match part {
            Component::Normal(name) => name.to_str(),
            _ => None,
        })
        .collect();
    for (index, name) in names.iter().enumerate() {
        if *name != ".config" && CREDENTIAL_STORES.contains(name) {
            return Some((*name).to_owned());
        }
        if *name == ".config"
            && let Some(tool) = names.get(index + 1)
            && UNDER_CONFIG.contains(tool)
        {
            return Some(format!(".config/{tool}"));
        }
    }
    None
}

/// Why `path` may not be mounted into commands, if it may not.
fn check_mount(path: &Path, host: &HostEnvironment) -> Result<(), String> {
    if !path.is_absolute() {
        return Err("must be an absolute path (or start with `~/` or `${NAME}`)".to_owned());
    }
    if path
        .components()
        .any(|part| matches!(part, Component::ParentDir | Component::CurDir))
    {
        return Err("must not contain `.` or `..`".to_owned());
    }
    if path.parent().is_none() {
        return Err(
            "mounts the whole file system; name the toolchain's own directories".to_owned(),
        );
    }
    if let Some(store) = credential_store_around(path) {
        return Err(format!(
            "is inside `{store}`, which holds credentials; name the toolchain's directory instead"
        ));
    }
    let canonical = path
        .canonicalize()
        .map_err(|error| format!("cannot be used on this host: {error}"))?;
    for reserved in &host.reserved_dirs {
        let reserved = reserved.canonicalize().unwrap_or_else(|_| reserved.clone());
        if canonical.starts_with(&reserved) || reserved.starts_with(&canonical) {
            return Err(format!(
                "overlaps Squadron's data directory {}, which holds the store and every squad's worktree",
                reserved.display()
            ));
        }
    }
    if let Some(store) = CREDENTIAL_STORES
        .iter()
        .find(|store| std::fs::symlink_metadata(canonical.join(store)).is_ok())
    {
        return Err(format!(
            "contains `{store}`, which holds credentials; mount the toolchain's own directories (e.g. ~/.rustup and ~/.cargo rather than ~)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_urls_with_a_password_carry_credentials() {
        assert!(carries_credentials(
            "postgres://squadron:hunter2@db:5432/squadron"
        ));
        assert!(carries_credentials("x https://a:b@h/p"));
        assert!(!carries_credentials(
            "https://user@example.com/path:with:colons"
        ));
        assert!(!carries_credentials("/usr/bin:/bin"));
        assert!(!carries_credentials("https://example.com/a@b:c"));
    }
}
