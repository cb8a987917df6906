//! Keeping Linear in step with the squads: comments, workflow states, pull-request links.
//!
//! Every write first reads what Linear already shows, so repeating it after a restart
//! writes nothing: comments carry a hidden marker (`<!-- squadron:<key> -->`), moves never go
//! backwards, and a pull request already attached is not linked again.

use serde_json::json;
use squadron_core::IssueKey;
use squadron_core::ports::{SyncOutcome, WorkflowTarget};

use crate::client::LinearClient;
use crate::documents::{
    CREATE_COMMENT, ISSUE_BY_KEY, ISSUE_COMMENTS, LINK_URL, TEAM_WORKFLOW_STATES,
    UPDATE_ISSUE_STATE, VIEWER,
};
use crate::error::{LinearError, LinearErrorKind};
use crate::wire::{
    CommentCreateData, CommentsData, IssueData, IssueUpdateData, LinkUrlData, Success,
    TeamStatesData, Viewer, ViewerData, WireIssue, WorkflowState,
};

/// Names of the workflow states Squadron moves issues into. States are found by type
/// (`started`, `completed`); the names pick among several of one type and tell the
/// in-review state (a `started` state) from the started one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateNames {
    /// When a squad starts (a `started` state).
    pub started: String,
    /// When its pull request opens (a `started` state).
    pub in_review: String,
    /// When its pull request merges (a `completed` state).
    pub done: String,
}

impl Default for StateNames {
    /// Linear's default names.
    fn default() -> Self {
        Self {
            started: "In Progress".to_owned(),
            in_review: "In Review".to_owned(),
            done: "Done".to_owned(),
        }
    }
}

/// The hidden marker that identifies a comment Squadron posted for `key`.
pub fn comment_marker(key: &str) -> String {
    format!("<!-- squadron:{key} -->")
}

fn check(success: &Success, what: &str) -> Result<(), LinearError> {
    if success.success {
        Ok(())
    } else {
        Err(LinearError::new(
            LinearErrorKind::InvalidInput,
            format!("{what}: Linear reported no success"),
        ))
    }
}

impl LinearClient {
    /// Who the credentials belong to; a cheap check that they work.
    ///
    /// # Errors
    /// Whatever the request failed with (authentication, most likely).
    pub async fn viewer(&self) -> Result<Viewer, LinearError> {
        let data: ViewerData = self.execute(&VIEWER, json!({})).await?;
        Ok(data.viewer)
    }

    async fn wire_issue(&self, issue: &IssueKey) -> Result<WireIssue, LinearError> {
        let data: IssueData = self
            .execute(&ISSUE_BY_KEY, json!({ "id": issue.as_str() }))
            .await?;
        Ok(data.issue)
    }

    /// Posts `body` on the issue unless a comment with `marker` is already there.
    ///
    /// # Errors
    /// Whatever the requests failed with.
    pub async fn comment_once(
        &self,
        issue: &IssueKey,
        marker: &str,
        body: &str,
    ) -> Result<SyncOutcome, LinearError> {
        let hidden = comment_marker(marker);
        let mut after: Option<String> = None;
        loop {
            let data: CommentsData = self
                .execute(
                    &ISSUE_COMMENTS,
                    json!({ "id": issue.as_str(), "after": after }),
                )
                .await?;
            if data
                .issue
                .comments
                .nodes
                .iter()
                .any(|comment| comment.body.contains(&hidden))
            {
                return Ok(SyncOutcome::AlreadyDone);
            }
            let page = data.issue.comments.page_info;
            match page.has_next_page.then_some(page.end_cursor).flatten() {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        let data: CommentCreateData = self
            .execute(
                &CREATE_COMMENT,
                json!({ "issueId": issue.as_str(), "body": format!("{body}\n\n{hidden}") }),
            )
            .await?;
        check(&data.comment_create, &format!("comment on {issue}"))?;
        Ok(SyncOutcome::Applied)
    }

    async fn states_of_team(&self, team_id: &str) -> Result<Vec<WorkflowState>, LinearError> {
        if let Some(states) = self.cached_team_states().get(team_id) {
            return Ok(states.clone());
        }
        let data: TeamStatesData = self
            .execute(&TEAM_WORKFLOW_STATES, json!({ "teamId": team_id }))
            .await?;
        let mut states = data.team.states.nodes;
        states.sort_by(|a, b| a.position.total_cmp(&b.position));
        self.cached_team_states()
            .insert(team_id.to_owned(), states.clone());
        Ok(states)
    }

    /// Moves the issue to its team's state for `target`, unless it is there or further.
    ///
    /// # Errors
    /// [`LinearErrorKind::InvalidInput`] when the team has no state for `target` (naming the
    /// states it has and the setting to change); otherwise whatever the requests failed with.
    pub async fn move_issue(
        &self,
        issue: &IssueKey,
        target: WorkflowTarget,
    ) -> Result<SyncOutcome, LinearError> {
        let wire = self.wire_issue(issue).await?;
        let names = self
            .team_state_names
            .get(&wire.team.key)
            .unwrap_or(&self.state_names);
        let progress = |kind: &str, name: &str| match kind {
            "completed" | "canceled" | "duplicate" => 3,
            "started" if name.eq_ignore_ascii_case(&names.in_review) => 2,
            "started" => 1,
            _ => 0,
        };
        // Moves go forward only, so a replayed step never undoes a later one; reopening
        // is the deliberate way back, done when the issue is not in that state already.
        let wanted = match target {
            WorkflowTarget::Started => Some(1),
            WorkflowTarget::InReview => Some(2),
            WorkflowTarget::Done => Some(3),
            WorkflowTarget::Reopened => None,
        };
        if wanted.is_some_and(|wanted| progress(&wire.state.kind, &wire.state.name) >= wanted) {
            return Ok(SyncOutcome::AlreadyDone);
        }
        let states = self.states_of_team(&wire.team.id).await?;
        let named = |kind: &str, name: &str| {
            states
                .iter()
                .find(|s| s.kind == kind && s.name.eq_ignore_ascii_case(name))
        };
        let chosen = match target {
            WorkflowTarget::Started | WorkflowTarget::Reopened => named("started", &names.started)
                .or_else(|| {
                    states.iter().find(|s| {
                        s.kind == "started" && !s.name.eq_ignore_ascii_case(&names.in_review)
                    })
                }),
            WorkflowTarget::InReview => named("started", &names.in_review),
            WorkflowTarget::Done => named("completed", &names.done)
                .or_else(|| states.iter().find(|s| s.kind == "completed")),
        };
        let Some(state) = chosen else {
            let available: Vec<String> = states
                .iter()
                .map(|s| format!("{} ({})", s.name, s.kind))
                .collect();
            return Err(LinearError::new(
                LinearErrorKind::InvalidInput,
                format!(
                    "move {issue} to its {target} state: team {} has no such state among {}; set \
                     `linear.team_states.{}` to one of them",
                    wire.team.key,
                    available.join(", "),
                    wire.team.key
                ),
            ));
        };
        if state.id == wire.state.id {
            return Ok(SyncOutcome::AlreadyDone);
        }
        let data: IssueUpdateData = self
            .execute(
                &UPDATE_ISSUE_STATE,
                json!({ "id": wire.id, "stateId": state.id }),
            )
            .await?;
        check(
            &data.issue_update,
            &format!("move {issue} to `{}`", state.name),
        )?;
        Ok(SyncOutcome::Applied)
    }

    /// Links a pull request to the issue unless that URL is already attached.
    ///
    /// # Errors
    /// Whatever the requests failed with.
    pub async fn link_pull_request(
        &self,
        issue: &IssueKey,
        url: &str,
        title: &str,
    ) -> Result<SyncOutcome, LinearError> {
        let wire = self.wire_issue(issue).await?;
        if wire
            .attachments
            .nodes
            .iter()
            .any(|attachment| attachment.url == url)
        {
            return Ok(SyncOutcome::AlreadyDone);
        }
        let data: LinkUrlData = self
            .execute(
                &LINK_URL,
                json!({ "issueId": wire.id, "url": url, "title": title }),
            )
            .await?;
        check(&data.attachment_link_url, &format!("link {url} to {issue}"))?;
        Ok(SyncOutcome::Applied)
    }

    /// Posts the needs-human summary of a squad once (keyed by `squad`).
    ///
    /// # Errors
    /// Whatever the requests failed with.
    pub async fn post_needs_human(
        &self,
        issue: &IssueKey,
        squad: &str,
        summary: &str,
    ) -> Result<SyncOutcome, LinearError> {
        let body = format!("**Squadron needs a person for this issue.**\n\n{summary}");
        self.comment_once(issue, &format!("needs-human-{squad}"), &body)
            .await
    }
}
