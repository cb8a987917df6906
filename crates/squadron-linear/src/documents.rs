//! The GraphQL documents the client sends, kept as `.graphql` files in `graphql/`.
//!
//! [`ALL`] lists every one of them, so a test can validate each against Linear's schema.

/// One GraphQL document: an operation plus the fragments it uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Document {
    /// The operation's name, as sent in `operationName`.
    pub operation: &'static str,
    /// The full text.
    pub text: &'static str,
}

macro_rules! with_issue_fields {
    ($file:literal) => {
        concat!(
            include_str!($file),
            "\n",
            include_str!("../graphql/issue_fields.graphql")
        )
    };
}

/// The project named by a URL's slug id, with a page of its milestones.
pub const PROJECT_WITH_MILESTONES: Document = Document {
    operation: "ProjectWithMilestones",
    text: include_str!("../graphql/project_with_milestones.graphql"),
};

/// One page of a milestone's issues with everything a squad needs.
pub const MILESTONE_ISSUES: Document = Document {
    operation: "MilestoneIssues",
    text: with_issue_fields!("../graphql/milestone_issues.graphql"),
};

/// One issue by identifier or id.
pub const ISSUE_BY_KEY: Document = Document {
    operation: "IssueByKey",
    text: with_issue_fields!("../graphql/issue_by_key.graphql"),
};

/// One page of an issue's comments.
pub const ISSUE_COMMENTS: Document = Document {
    operation: "IssueComments",
    text: include_str!("../graphql/issue_comments.graphql"),
};

/// A team's workflow states.
pub const TEAM_WORKFLOW_STATES: Document = Document {
    operation: "TeamWorkflowStates",
    text: include_str!("../graphql/team_workflow_states.graphql"),
};

/// Posts a comment.
pub const CREATE_COMMENT: Document = Document {
    operation: "CreateComment",
    text: include_str!("../graphql/create_comment.graphql"),
};

/// Moves an issue to a state.
pub const UPDATE_ISSUE_STATE: Document = Document {
    operation: "UpdateIssueState",
    text: include_str!("../graphql/update_issue_state.graphql"),
};

/// Links a URL to an issue.
pub const LINK_URL: Document = Document {
    operation: "LinkUrl",
    text: include_str!("../graphql/link_url.graphql"),
};

/// Who the credentials belong to.
pub const VIEWER: Document = Document {
    operation: "Viewer",
    text: include_str!("../graphql/viewer.graphql"),
};

/// Every document the client can send.
pub const ALL: &[Document] = &[
    PROJECT_WITH_MILESTONES,
    MILESTONE_ISSUES,
    ISSUE_BY_KEY,
    ISSUE_COMMENTS,
    TEAM_WORKFLOW_STATES,
    CREATE_COMMENT,
    UPDATE_ISSUE_STATE,
    LINK_URL,
    VIEWER,
];
