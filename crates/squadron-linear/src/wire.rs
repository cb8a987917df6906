//! Linear's JSON shapes for the documents in `graphql/`, and their mapping to the domain.

use serde::Deserialize;
use squadron_core::acceptance::parse_acceptance_criteria;
use squadron_core::{
    Attachment, BlockingIssue, Issue, IssueId, IssueKey, IssueState, Milestone, MilestoneId,
    MilestoneStatus, Priority, Project, ProjectId, StateType,
};

use crate::error::{LinearError, LinearErrorKind};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Nodes<T> {
    pub nodes: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Page<T> {
    pub nodes: Vec<T>,
    pub page_info: PageInfo,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ProjectsData {
    pub projects: Nodes<WireProject>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireProject {
    pub id: String,
    pub name: String,
    pub slug_id: String,
    pub url: String,
    pub project_milestones: Page<WireMilestone>,
}

impl WireProject {
    pub(crate) fn to_domain(&self) -> Project {
        Project {
            id: ProjectId::new(self.id.clone()),
            name: self.name.clone(),
            slug_id: self.slug_id.clone(),
            url: self.url.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireMilestone {
    pub id: String,
    pub name: String,
    pub sort_order: f64,
    pub status: String,
}

impl WireMilestone {
    pub(crate) fn to_domain(&self) -> Result<Milestone, LinearError> {
        let status = match self.status.as_str() {
            "done" => MilestoneStatus::Done,
            "next" => MilestoneStatus::Next,
            "overdue" => MilestoneStatus::Overdue,
            "unstarted" => MilestoneStatus::Unstarted,
            other => {
                return Err(LinearError::new(
                    LinearErrorKind::Protocol,
                    format!("read milestone `{}`: unknown status `{other}`", self.name),
                ));
            }
        };
        Ok(Milestone {
            id: MilestoneId::new(self.id.clone()),
            name: self.name.clone(),
            sort_order: self.sort_order,
            status,
        })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct IssuesData {
    pub issues: Page<WireIssue>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct IssueData {
    pub issue: WireIssue,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireState {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct StateTypeOnly {
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireTeam {
    pub id: String,
    pub key: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Label {
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireAttachment {
    pub title: String,
    pub url: String,
    pub source_type: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RelatedIssue {
    pub id: String,
    pub identifier: String,
    pub state: StateTypeOnly,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Relation {
    #[serde(rename = "type")]
    pub kind: String,
    pub related_issue: RelatedIssue,
}

#[derive(Debug, Deserialize)]
pub(crate) struct InverseRelation {
    #[serde(rename = "type")]
    pub kind: String,
    pub issue: RelatedIssue,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireIssue {
    pub id: String,
    pub identifier: String,
    pub title: String,
    pub description: Option<String>,
    pub estimate: Option<f64>,
    pub priority: f64,
    pub branch_name: String,
    pub url: String,
    pub state: WireState,
    pub team: WireTeam,
    pub labels: Nodes<Label>,
    pub attachments: Nodes<WireAttachment>,
    pub relations: Nodes<Relation>,
    pub inverse_relations: Nodes<InverseRelation>,
}

pub(crate) fn state_type(kind: &str, whose: &str) -> Result<StateType, LinearError> {
    StateType::parse(kind).ok_or_else(|| {
        LinearError::new(
            LinearErrorKind::Protocol,
            format!("read the state of {whose}: unknown state type `{kind}`"),
        )
    })
}

impl WireIssue {
    /// Issues this one blocks (its own `blocks` relations), by identifier.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = &RelatedIssue> {
        self.relations
            .nodes
            .iter()
            .filter(|r| r.kind == "blocks")
            .map(|r| &r.related_issue)
    }

    /// The domain issue; `blocked_by` holds the inverse `blocks` relations.
    pub(crate) fn to_domain(&self) -> Result<Issue, LinearError> {
        let description = self.description.clone().unwrap_or_default();
        let mut blocked_by = Vec::new();
        for relation in self
            .inverse_relations
            .nodes
            .iter()
            .filter(|r| r.kind == "blocks")
        {
            blocked_by.push(relation.issue.to_blocking()?);
        }
        Ok(Issue {
            id: IssueId::new(self.id.clone()),
            key: IssueKey::new(self.identifier.clone()),
            title: self.title.clone(),
            acceptance_criteria: parse_acceptance_criteria(&description),
            description,
            estimate: self.estimate,
            // Linear sends priority as a Float of 0..=4.
            priority: Priority::from_linear(self.priority as i64),
            state: IssueState {
                name: self.state.name.clone(),
                kind: state_type(&self.state.kind, &self.identifier)?,
            },
            labels: self.labels.nodes.iter().map(|l| l.name.clone()).collect(),
            branch_name: self.branch_name.clone(),
            url: self.url.clone(),
            team_key: self.team.key.clone(),
            blocked_by,
            attachments: self
                .attachments
                .nodes
                .iter()
                .map(|a| Attachment {
                    title: a.title.clone(),
                    url: a.url.clone(),
                    source: a.source_type.clone(),
                })
                .collect(),
        })
    }
}

impl RelatedIssue {
    pub(crate) fn to_blocking(&self) -> Result<BlockingIssue, LinearError> {
        Ok(BlockingIssue {
            id: IssueId::new(self.id.clone()),
            key: IssueKey::new(self.identifier.clone()),
            state: state_type(&self.state.kind, &self.identifier)?,
        })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CommentsData {
    pub issue: CommentsOfIssue,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CommentsOfIssue {
    pub comments: Page<WireComment>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireComment {
    pub body: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TeamStatesData {
    pub team: TeamStates,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TeamStates {
    pub states: Nodes<WorkflowState>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WorkflowState {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub position: f64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommentCreateData {
    pub comment_create: Success,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IssueUpdateData {
    pub issue_update: Success,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LinkUrlData {
    #[serde(rename = "attachmentLinkURL")]
    pub attachment_link_url: Success,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Success {
    pub success: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ViewerData {
    pub viewer: Viewer,
}

/// Who the credentials belong to.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Viewer {
    /// User id.
    pub id: String,
    /// Display name.
    pub name: String,
}
