//! [`IssueTracker`] for Linear: the port the pipeline uses, over [`LinearClient`].

use async_trait::async_trait;
use squadron_core::ports::{IssueTracker, MilestoneIntake, PortError, SyncOutcome, WorkflowTarget};
use squadron_core::{Issue, IssueKey};

use crate::client::LinearClient;
use crate::error::LinearError;
use crate::url::{parse_issue_ref, parse_project_url};

#[async_trait]
impl IssueTracker for LinearClient {
    async fn resolve_milestone(&self, project_url: &str) -> Result<MilestoneIntake, PortError> {
        let project = parse_project_url(project_url).map_err(LinearError::from)?;
        Ok(LinearClient::resolve_milestone(self, &project).await?)
    }

    async fn fetch_issue(&self, issue: &str) -> Result<Issue, PortError> {
        let issue = parse_issue_ref(issue).map_err(LinearError::from)?;
        Ok(LinearClient::fetch_issue(self, &issue).await?)
    }

    async fn comment_once(
        &self,
        issue: &IssueKey,
        marker: &str,
        body: &str,
    ) -> Result<SyncOutcome, PortError> {
        Ok(LinearClient::comment_once(self, issue, marker, body).await?)
    }

    async fn move_issue(
        &self,
        issue: &IssueKey,
        target: WorkflowTarget,
    ) -> Result<SyncOutcome, PortError> {
        Ok(LinearClient::move_issue(self, issue, target).await?)
    }

    async fn link_pull_request(
        &self,
        issue: &IssueKey,
        url: &str,
        title: &str,
    ) -> Result<SyncOutcome, PortError> {
        Ok(LinearClient::link_pull_request(self, issue, url, title).await?)
    }
}
