//! Who may write what: write scopes per role, the paths no agent writes, the repository's
//! test globs, and the squad's record of files QA wrote (which the Developer may not change).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use globset::{Glob, GlobSet, GlobSetBuilder};
use squadron_core::Role;
use squadron_core::ports::PortError;

use crate::workspace::RepoPolicy;

/// What an agent may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteScope {
    /// Nothing: reviewers and the diagnostician.
    Nothing,
    /// Only files matching the repository's test globs: QA.
    TestFiles,
    /// Any file inside the worktree, except those QA wrote in this squad: the Developer.
    Anything,
}

impl WriteScope {
    /// The widest scope a role can ever have; an agent file can narrow it, never widen it.
    pub const fn ceiling(role: Role) -> WriteScope {
        match role {
            Role::Developer => WriteScope::Anything,
            Role::Qa => WriteScope::TestFiles,
            Role::CodeReviewer | Role::QaSpecialist | Role::Diagnostician => WriteScope::Nothing,
        }
    }

    /// The narrower of `self` and `other`.
    pub fn narrowest(self, other: WriteScope) -> WriteScope {
        let rank = |scope: WriteScope| match scope {
            WriteScope::Nothing => 0,
            WriteScope::TestFiles => 1,
            WriteScope::Anything => 2,
        };
        if rank(self) <= rank(other) {
            self
        } else {
            other
        }
    }
}

/// Globs over worktree-relative paths, compiled: the repository's test files, or the paths
/// it protects besides Squadron's own.
#[derive(Clone, Debug)]
pub struct PathGlobs {
    patterns: Vec<String>,
    set: GlobSet,
}

/// The repository's test file globs: the only files QA writes.
pub type TestGlobs = PathGlobs;

/// A glob that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("parse glob `{pattern}`: fix it in `.squadron.toml`")]
pub struct InvalidGlob {
    /// The offending pattern.
    pub pattern: String,
    /// The cause.
    #[source]
    pub source: globset::Error,
}

impl Default for PathGlobs {
    /// No path at all.
    fn default() -> Self {
        Self {
            patterns: Vec::new(),
            set: GlobSet::empty(),
        }
    }
}

impl PathGlobs {
    /// Compiles `patterns` (e.g. `tests/**`, `**/*_test.go`).
    pub fn new(patterns: &[String]) -> Result<Self, InvalidGlob> {
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            let glob = Glob::new(pattern).map_err(|source| InvalidGlob {
                pattern: pattern.clone(),
                source,
            })?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|source| InvalidGlob {
            pattern: patterns.join(", "),
            source,
        })?;
        Ok(Self {
            patterns: patterns.to_vec(),
            set,
        })
    }

    /// Whether `relative` (a worktree-relative, `/`-separated path) matches.
    pub fn matches(&self, relative: &str) -> bool {
        self.set.is_match(relative)
    }

    /// The patterns as configured.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// What QA last left at one path through its file tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QaVersion {
    /// QA wrote the file; its bytes are kept under this digest (SHA-256, hex) so the harness
    /// can tell QA's version from any other and put it back.
    Written(String),
    /// QA deleted the file.
    Deleted,
}

/// Where a squad keeps its record of QA's files so that it survives a restart: without it,
/// a restarted squad would let the Developer change QA's tests.
#[async_trait::async_trait]
pub trait QaFilesJournal: Send + Sync + std::fmt::Debug {
    /// Stores the whole record, replacing the one stored before.
    async fn save(&self, versions: &BTreeMap<String, QaVersion>) -> Result<(), PortError>;
}

/// The files QA wrote in this squad and the version it left of each, shared by every agent
/// of the squad and, with a journal, stored after every change.
///
/// Cloning shares the same record.
#[derive(Clone, Debug, Default)]
pub struct QaFiles {
    versions: Arc<Mutex<BTreeMap<String, QaVersion>>>,
    journal: Option<Arc<dyn QaFilesJournal>>,
    /// Saves run one at a time, each storing the record as it stands when its turn comes,
    /// so the last one stored is never older than the last change.
    saving: Arc<tokio::sync::Mutex<()>>,
}

impl QaFiles {
    /// A record holding `versions`: empty, or restored from the journal after a restart.
    pub fn new(versions: impl IntoIterator<Item = (String, QaVersion)>) -> Self {
        Self {
            versions: Arc::new(Mutex::new(versions.into_iter().collect())),
            ..Self::default()
        }
    }

    /// This record, stored in `journal` after every change.
    #[must_use]
    pub fn with_journal(mut self, journal: Arc<dyn QaFilesJournal>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Notes what QA left at each path and stores the record; `Err` says why it could not
    /// be stored (the record in memory holds the change either way).
    pub async fn record(
        &self,
        changes: impl IntoIterator<Item = (String, QaVersion)>,
    ) -> Result<(), PortError> {
        self.lock().extend(changes);
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        let _turn = self.saving.lock().await;
        let snapshot = self.lock().clone();
        journal.save(&snapshot).await
    }

    /// Whether QA wrote (or deleted) `relative`.
    pub fn contains(&self, relative: &str) -> bool {
        self.lock().contains_key(relative)
    }

    /// What QA last left at `relative`, if it touched it.
    pub fn version(&self, relative: &str) -> Option<QaVersion> {
        self.lock().get(relative).cloned()
    }

    /// Every path QA touched, sorted.
    pub fn paths(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// The whole record.
    pub fn versions(&self) -> BTreeMap<String, QaVersion> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, QaVersion>> {
        // The map stays consistent even if a holder panicked: each change is one insert.
        self.versions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why a write was refused, worded for the model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WriteRefusal {
    /// The role writes nothing.
    #[error("write `{path}`: the {role} is read-only and cannot change files")]
    ReadOnlyRole {
        /// The role.
        role: Role,
        /// The path.
        path: String,
    },
    /// QA wrote outside the test globs.
    #[error("write `{path}`: QA may only write test files (matching {globs})")]
    NotATestFile {
        /// The path.
        path: String,
        /// The globs, joined for display.
        globs: String,
    },
    /// The Developer touched a file QA wrote.
    #[error(
        "write `{path}`: QA wrote this test in this squad and only QA may change it; if the test is wrong, ask QA to change it with `request_test_change`"
    )]
    WrittenByQa {
        /// The path.
        path: String,
    },
    /// The Developer wrote a test file.
    #[error(
        "write `{path}`: it is a test file (matching {globs}) and only QA writes test files; to add or change a test, ask QA with `request_test_change`"
    )]
    TestFileOfQa {
        /// The path.
        path: String,
        /// The globs, joined for display.
        globs: String,
    },
    /// The path configures Squadron itself or the repository's delivery.
    #[error(
        "write `{path}`: this file configures {what}, which no agent may change; if it needs a change, say so in your summary for a person to make"
    )]
    Protected {
        /// The path.
        path: String,
        /// What the file configures.
        what: &'static str,
    },
}

/// Paths no agent may write, whatever its role: Squadron's own settings for the repository
/// (its guardrail commands, agent instructions and prompts — an agent that could rewrite them
/// could switch off its own checks) and the repository's CI and deployment workflows.
const PROTECTED: [(&str, &str); 4] = [
    (
        ".squadron.toml",
        "Squadron's guardrails for this repository",
    ),
    (
        "agents/",
        "Squadron's agent instructions for this repository",
    ),
    ("prompts/", "Squadron's prompts for this repository"),
    (".github/", "the repository's CI and deployment"),
];

/// File names no agent may write at any depth: the repository's instructions for agents,
/// which every squad's system prompt shows as guidance. An agent that could write them would
/// be writing the next squad's prompt.
const PROTECTED_NAMES: [&str; 2] = ["AGENTS.md", "CLAUDE.md"];

/// What `relative` configures when no agent may write it (see [`PROTECTED`], and the
/// repository's own `protected` globs from the base commit's settings), else `None`.
pub(crate) fn protected(relative: &str, by_repository: &PathGlobs) -> Option<&'static str> {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    if PROTECTED_NAMES.contains(&name) {
        return Some("the repository's guidance for agents");
    }
    PROTECTED
        .iter()
        .find_map(|(prefix, what)| {
            let matches = if let Some(dir) = prefix.strip_suffix('/') {
                relative == dir || relative.starts_with(prefix)
            } else {
                relative == *prefix
            };
            matches.then_some(*what)
        })
        .or_else(|| {
            by_repository.matches(relative).then_some(
                "what the repository keeps from agents (`protected` in its `.squadron.toml`)",
            )
        })
}

/// Decides whether `role` with `scope` may write `relative`, under the repository's
/// `policy` (its test globs and protected paths).
pub fn check_write(
    role: Role,
    scope: WriteScope,
    relative: &str,
    policy: &RepoPolicy,
    qa_files: &QaFiles,
) -> Result<(), WriteRefusal> {
    if let Some(what) = protected(relative, &policy.protected) {
        return Err(WriteRefusal::Protected {
            path: relative.to_owned(),
            what,
        });
    }
    let test_globs = &policy.test_globs;
    match scope.narrowest(WriteScope::ceiling(role)) {
        WriteScope::Nothing => Err(WriteRefusal::ReadOnlyRole {
            role,
            path: relative.to_owned(),
        }),
        WriteScope::TestFiles if !test_globs.matches(relative) => Err(WriteRefusal::NotATestFile {
            path: relative.to_owned(),
            globs: if test_globs.patterns().is_empty() {
                "no globs: the repository declares no test files".to_owned()
            } else {
                test_globs.patterns().join(", ")
            },
        }),
        WriteScope::TestFiles => Ok(()),
        WriteScope::Anything if role != Role::Qa && qa_files.contains(relative) => {
            Err(WriteRefusal::WrittenByQa {
                path: relative.to_owned(),
            })
        }
        WriteScope::Anything if role != Role::Qa && test_globs.matches(relative) => {
            Err(WriteRefusal::TestFileOfQa {
                path: relative.to_owned(),
                globs: test_globs.patterns().join(", "),
            })
        }
        WriteScope::Anything => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(test_globs: &[&str], protected: &[&str]) -> RepoPolicy {
        let strings = |globs: &[&str]| {
            globs
                .iter()
                .map(|glob| (*glob).to_owned())
                .collect::<Vec<_>>()
        };
        RepoPolicy {
            test_globs: TestGlobs::new(&strings(test_globs)).unwrap(),
            protected: PathGlobs::new(&strings(protected)).unwrap(),
            ..RepoPolicy::default()
        }
    }

    #[test]
    fn no_role_may_rewrite_squadrons_settings_or_the_repositorys_workflows() {
        let globs = policy(&["tests/**", "**/*_test.py"], &[]);
        let qa_files = QaFiles::default();
        for path in [
            ".squadron.toml",
            "agents/developer.md",
            "prompts/implement.md",
            ".github/workflows/deploy.yml",
            "AGENTS.md",
            "crates/shop/AGENTS.md",
            "CLAUDE.md",
        ] {
            for role in [Role::Developer, Role::Qa] {
                let refusal = check_write(role, WriteScope::Anything, path, &globs, &qa_files)
                    .expect_err(path);
                assert!(
                    matches!(refusal, WriteRefusal::Protected { .. }),
                    "{path}: {refusal}"
                );
            }
        }
        // Only the exact names are protected, not look-alikes.
        for path in [
            "src/agents/mod.rs",
            "docs/prompts.md",
            "squadron.toml",
            "docs/AGENTS.md.bak",
        ] {
            assert_eq!(
                check_write(
                    Role::Developer,
                    WriteScope::Anything,
                    path,
                    &globs,
                    &qa_files
                ),
                Ok(()),
                "{path}"
            );
        }
    }

    #[test]
    fn the_repository_protects_paths_of_its_own_besides_squadrons() {
        let globs = policy(&["tests/**"], &["deploy/**", "Makefile"]);
        let qa_files = QaFiles::default();
        for path in [
            "deploy/prod.yaml",
            "deploy/k8s/app.yaml",
            "Makefile",
            ".squadron.toml",
        ] {
            let refusal = check_write(
                Role::Developer,
                WriteScope::Anything,
                path,
                &globs,
                &qa_files,
            )
            .expect_err(path);
            assert!(
                matches!(refusal, WriteRefusal::Protected { .. }),
                "{path}: {refusal}"
            );
        }
        assert_eq!(
            check_write(
                Role::Developer,
                WriteScope::Anything,
                "deploy/prod.yaml",
                &globs,
                &qa_files
            )
            .unwrap_err()
            .to_string(),
            "write `deploy/prod.yaml`: this file configures what the repository keeps from agents (`protected` in its `.squadron.toml`), which no agent may change; if it needs a change, say so in your summary for a person to make"
        );
        for (role, path) in [
            (Role::Developer, "src/Makefile.rs"),
            (Role::Qa, "tests/deploy/a.rs"),
        ] {
            assert_eq!(
                check_write(role, WriteScope::Anything, path, &globs, &qa_files),
                Ok(()),
                "{path}"
            );
        }
    }

    #[test]
    fn an_agent_file_cannot_widen_a_role() {
        let globs = policy(&["tests/**"], &[]);
        let qa_files = QaFiles::default();
        let refusal = check_write(
            Role::CodeReviewer,
            WriteScope::Anything,
            "src/a.rs",
            &globs,
            &qa_files,
        );
        assert!(matches!(refusal, Err(WriteRefusal::ReadOnlyRole { .. })));
        let refusal = check_write(
            Role::Qa,
            WriteScope::Anything,
            "src/a.rs",
            &globs,
            &qa_files,
        );
        assert!(matches!(refusal, Err(WriteRefusal::NotATestFile { .. })));
        assert!(
            check_write(
                Role::Qa,
                WriteScope::Anything,
                "tests/a.rs",
                &globs,
                &qa_files
            )
            .is_ok()
        );
    }

    #[tokio::test]
    async fn qa_files_are_shared_between_clones() {
        let globs = policy(&[], &[]);
        let qa_files = QaFiles::default();
        qa_files
            .clone()
            .record([(
                "tests/login.rs".to_owned(),
                QaVersion::Written("digest".to_owned()),
            )])
            .await
            .unwrap();
        let refusal = check_write(
            Role::Developer,
            WriteScope::Anything,
            "tests/login.rs",
            &globs,
            &qa_files,
        );
        assert_eq!(
            refusal,
            Err(WriteRefusal::WrittenByQa {
                path: "tests/login.rs".to_owned()
            })
        );
    }
}
