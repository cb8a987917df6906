//! Who may write what: write scopes per role, the repository's test globs, and the squad's
//! record of files QA wrote (which the Developer may not change).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use globset::{Glob, GlobSet, GlobSetBuilder};
use squadron_core::Role;

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

/// The repository's test file globs, compiled.
#[derive(Clone, Debug)]
pub struct TestGlobs {
    patterns: Vec<String>,
    set: GlobSet,
}

/// A test glob that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("parse test glob `{pattern}`: fix it in `.squadron.toml`")]
pub struct InvalidGlob {
    /// The offending pattern.
    pub pattern: String,
    /// The cause.
    #[source]
    pub source: globset::Error,
}

impl Default for TestGlobs {
    /// No test files at all.
    fn default() -> Self {
        Self {
            patterns: Vec::new(),
            set: GlobSet::empty(),
        }
    }
}

impl TestGlobs {
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

    /// Whether `relative` (a worktree-relative, `/`-separated path) is a test file.
    pub fn matches(&self, relative: &str) -> bool {
        self.set.is_match(relative)
    }

    /// The patterns as configured.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// Files QA wrote in this squad, shared by every agent of the squad.
///
/// Cloning shares the same record.
#[derive(Clone, Debug, Default)]
pub struct QaFiles {
    paths: Arc<Mutex<BTreeSet<String>>>,
}

impl QaFiles {
    /// An empty record, or one restored from earlier progress.
    pub fn new(paths: impl IntoIterator<Item = String>) -> Self {
        Self {
            paths: Arc::new(Mutex::new(paths.into_iter().collect())),
        }
    }

    /// Notes that QA wrote `relative`.
    pub fn insert(&self, relative: &str) {
        self.lock().insert(relative.to_owned());
    }

    /// Whether QA wrote `relative`.
    pub fn contains(&self, relative: &str) -> bool {
        self.lock().contains(relative)
    }

    /// Every path QA wrote, sorted.
    pub fn paths(&self) -> Vec<String> {
        self.lock().iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        // The set stays consistent even if a holder panicked: inserts are atomic.
        self.paths.lock().unwrap_or_else(PoisonError::into_inner)
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

fn protected(relative: &str) -> Option<&'static str> {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    if PROTECTED_NAMES.contains(&name) {
        return Some("the repository's guidance for agents");
    }
    PROTECTED.iter().find_map(|(prefix, what)| {
        let matches = if let Some(dir) = prefix.strip_suffix('/') {
            relative == dir || relative.starts_with(prefix)
        } else {
            relative == *prefix
        };
        matches.then_some(*what)
    })
}

/// Decides whether `role` with `scope` may write `relative`.
pub fn check_write(
    role: Role,
    scope: WriteScope,
    relative: &str,
    test_globs: &TestGlobs,
    qa_files: &QaFiles,
) -> Result<(), WriteRefusal> {
    if let Some(what) = protected(relative) {
        return Err(WriteRefusal::Protected {
            path: relative.to_owned(),
            what,
        });
    }
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
        WriteScope::Anything => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_role_may_rewrite_squadrons_settings_or_the_repositorys_workflows() {
        let globs = TestGlobs::new(&["tests/**".to_owned(), "**/*_test.py".to_owned()]).unwrap();
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
    fn an_agent_file_cannot_widen_a_role() {
        let globs = TestGlobs::new(&["tests/**".to_owned()]).unwrap();
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

    #[test]
    fn qa_files_are_shared_between_clones() {
        let globs = TestGlobs::new(&[]).unwrap();
        let qa_files = QaFiles::default();
        qa_files.clone().insert("tests/login.rs");
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
