//! Who a squad's commits are authored by: one identity per role.

use squadron_core::Role;

/// The author and committer of commits a role makes in its worktree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitAuthor {
    pub name: String,
    pub email: String,
}

impl CommitAuthor {
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            email: email.into(),
        }
    }

    /// `Squadron Developer <developer@squadron.invalid>` and so on for every role.
    pub fn for_role(role: Role) -> Self {
        let title = match role {
            Role::Developer => "Developer",
            Role::Qa => "QA",
            Role::CodeReviewer => "Code Reviewer",
            Role::QaSpecialist => "QA Specialist",
            Role::Diagnostician => "Diagnostician",
        };
        Self::new(
            format!("Squadron {title}"),
            format!("{}@squadron.invalid", role.as_str()),
        )
    }

    pub(crate) fn signature(&self) -> Result<git2::Signature<'static>, git2::Error> {
        git2::Signature::now(&self.name, &self.email)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_commits_under_its_own_name() {
        let developer = CommitAuthor::for_role(Role::Developer);
        assert_eq!(developer.name, "Squadron Developer");
        assert_eq!(developer.email, "developer@squadron.invalid");
        assert_eq!(
            CommitAuthor::for_role(Role::Qa).email,
            "qa@squadron.invalid"
        );
    }
}
