//! Identifiers of the things Squadron tracks.
//!
//! Ids are opaque strings created outside the core (the store or the binary mint them), so
//! the core stays free of randomness and I/O.

use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id minted elsewhere.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as text, as stored and shown.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self::new(id)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }
    };
}

string_id!(
    /// One run: one pasted milestone URL or one Slack/CLI fix trigger.
    RunId
);
string_id!(
    /// One squad: the four agents working one issue within a run.
    SquadId
);
string_id!(
    /// Linear's internal issue id (a UUID).
    IssueId
);
string_id!(
    /// Linear's human identifier of an issue, such as `ENG-123`.
    IssueKey
);
string_id!(
    /// Linear's internal milestone id (a UUID).
    MilestoneId
);
string_id!(
    /// Linear's internal project id (a UUID).
    ProjectId
);
