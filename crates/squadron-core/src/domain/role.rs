//! The roles agents play in a squad.

use std::fmt;
use std::str::FromStr;

/// One agent role. Each role has its own agent file, model, tools and write scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Implements the issue.
    Developer,
    /// Turns acceptance scenarios into tests; the only role that writes test files.
    Qa,
    /// Reviews conventions, architecture and design; read-only.
    CodeReviewer,
    /// Reviews that every scenario has a test that really verifies it; read-only.
    QaSpecialist,
    /// Investigates a bug report before any code is written; read-only.
    Diagnostician,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 5] = [
        Role::Developer,
        Role::Qa,
        Role::CodeReviewer,
        Role::QaSpecialist,
        Role::Diagnostician,
    ];

    /// The two reviewer roles whose approvals the merge gate requires.
    pub const REVIEWERS: [Role; 2] = [Role::CodeReviewer, Role::QaSpecialist];

    /// The role's name in files, config keys, logs and the store (`code-reviewer`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Developer => "developer",
            Role::Qa => "qa",
            Role::CodeReviewer => "code-reviewer",
            Role::QaSpecialist => "qa-specialist",
            Role::Diagnostician => "diagnostician",
        }
    }

    /// Whether the role may change files at all.
    pub const fn writes(self) -> bool {
        matches!(self, Role::Developer | Role::Qa)
    }

    /// Whether the role is one of the two reviewers.
    pub const fn reviews(self) -> bool {
        matches!(self, Role::CodeReviewer | Role::QaSpecialist)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown role `{0}` (expected one of: developer, qa, code-reviewer, qa-specialist, diagnostician)"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!(
            "reviewer"
                .parse::<Role>()
                .unwrap_err()
                .to_string()
                .contains("code-reviewer")
        );
    }
}
