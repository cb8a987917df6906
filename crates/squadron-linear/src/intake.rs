//! Intake: a project URL becomes its active milestone and every issue in it, in one request
//! for the project and one per 50 issues, never one per issue.

use std::collections::HashMap;

use serde_json::json;
use squadron_core::ports::{MilestoneChoice, MilestoneIntake};
use squadron_core::{Issue, IssueKey, Milestone, MilestoneStatus};

use crate::client::LinearClient;
use crate::documents::{ISSUE_BY_KEY, MILESTONE_ISSUES, PROJECT_WITH_MILESTONES};
use crate::error::{LinearError, LinearErrorKind};
use crate::url::{IssueRef, ProjectRef};
use crate::wire::{IssueData, IssuesData, ProjectsData, WireIssue};

/// Issues asked for per page (Linear's default page size).
pub const ISSUE_PAGE_SIZE: u32 = 50;

impl LinearClient {
    /// Resolves the project a URL names, picks its milestone (the URL's, else the first by
    /// sort order that is not done) and reads every issue of it.
    ///
    /// # Errors
    /// [`LinearErrorKind::NotFound`] for an unknown project or milestone, or a project with no
    /// milestone to work on; otherwise whatever the requests failed with.
    pub async fn resolve_milestone(
        &self,
        project: &ProjectRef,
    ) -> Result<MilestoneIntake, LinearError> {
        let mut after: Option<String> = None;
        let mut milestones = Vec::new();
        let found = loop {
            let data: ProjectsData = self
                .execute(
                    &PROJECT_WITH_MILESTONES,
                    json!({ "slugId": project.slug_id, "milestonesAfter": after }),
                )
                .await?;
            let Some(wire) = data.projects.nodes.into_iter().next() else {
                return Err(LinearError::new(
                    LinearErrorKind::NotFound,
                    format!(
                        "find the project with slug id `{}` in Linear: no project visible to these \
                         credentials has it; check the URL and that the key belongs to workspace `{}`",
                        project.slug_id, project.workspace
                    ),
                ));
            };
            for milestone in &wire.project_milestones.nodes {
                milestones.push(milestone.to_domain()?);
            }
            let page = &wire.project_milestones.page_info;
            match page
                .has_next_page
                .then(|| page.end_cursor.clone())
                .flatten()
            {
                Some(cursor) => after = Some(cursor),
                None => break wire.to_domain(),
            }
        };
        milestones.sort_by(|a, b| a.sort_order.total_cmp(&b.sort_order));
        if milestones.is_empty() {
            return Err(LinearError::new(
                LinearErrorKind::NotFound,
                format!(
                    "pick a milestone of project `{}`: it has none; add a milestone in Linear and put \
                     the issues to build in it",
                    found.name
                ),
            ));
        }
        let (milestone, choice) =
            choose_milestone(&milestones, project.milestone_id.as_deref(), &found.name)?;
        let issues = self.milestone_issues(&milestone).await?;
        Ok(MilestoneIntake {
            project: found,
            milestones,
            milestone,
            choice,
            issues,
        })
    }

    /// Every issue of a milestone, a page of [`ISSUE_PAGE_SIZE`] per request, with `blocks`
    /// relations merged from both directions.
    ///
    /// # Errors
    /// Whatever the requests failed with.
    pub async fn milestone_issues(&self, milestone: &Milestone) -> Result<Vec<Issue>, LinearError> {
        let mut wire_issues: Vec<WireIssue> = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let data: IssuesData = self
                .execute(
                    &MILESTONE_ISSUES,
                    json!({ "milestoneId": milestone.id.as_str(), "first": ISSUE_PAGE_SIZE, "after": after }),
                )
                .await?;
            wire_issues.extend(data.issues.nodes);
            let page = data.issues.page_info;
            match page.has_next_page.then_some(page.end_cursor).flatten() {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        let mut issues = wire_issues
            .iter()
            .map(WireIssue::to_domain)
            .collect::<Result<Vec<_>, _>>()?;
        // A relation read from the blocker's side must count even if the blocked issue's own
        // page did not list it.
        let position: HashMap<IssueKey, usize> = issues
            .iter()
            .enumerate()
            .map(|(index, issue)| (issue.key.clone(), index))
            .collect();
        for (blocker_index, wire) in wire_issues.iter().enumerate() {
            for blocked in wire.blocks() {
                let Some(&blocked_index) = position.get(&IssueKey::new(blocked.identifier.clone()))
                else {
                    continue;
                };
                let blocker = wire_issues[blocker_index].to_blocking_self()?;
                let target = &mut issues[blocked_index];
                if !target.blocked_by.iter().any(|b| b.key == blocker.key) {
                    target.blocked_by.push(blocker);
                }
            }
        }
        Ok(issues)
    }

    /// Reads one issue by identifier.
    ///
    /// # Errors
    /// [`LinearErrorKind::NotFound`] when no such issue is visible; otherwise whatever the
    /// request failed with.
    pub async fn fetch_issue(&self, issue: &IssueRef) -> Result<Issue, LinearError> {
        let data: IssueData = self
            .execute(&ISSUE_BY_KEY, json!({ "id": issue.identifier }))
            .await
            .map_err(|error| match error.kind() {
                LinearErrorKind::NotFound => LinearError::new(
                    LinearErrorKind::NotFound,
                    format!("find issue {issue} in Linear: no issue visible to these credentials has that identifier"),
                ),
                _ => error,
            })?;
        data.issue.to_domain()
    }
}

fn choose_milestone(
    milestones: &[Milestone],
    named: Option<&str>,
    project_name: &str,
) -> Result<(Milestone, MilestoneChoice), LinearError> {
    let names = || {
        milestones
            .iter()
            .map(|m| format!("{} ({})", m.name, m.id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(id) = named {
        return milestones
            .iter()
            .find(|m| m.id.as_str().eq_ignore_ascii_case(id))
            .map(|m| (m.clone(), MilestoneChoice::NamedInUrl))
            .ok_or_else(|| {
                LinearError::new(
                    LinearErrorKind::NotFound,
                    format!(
                        "find milestone `{id}` in project `{project_name}`: the project's milestones are {}; \
                         copy the URL again from the milestone",
                        names()
                    ),
                )
            });
    }
    milestones
        .iter()
        .find(|m| m.status != MilestoneStatus::Done)
        .map(|m| (m.clone(), MilestoneChoice::FirstNotDone))
        .ok_or_else(|| {
            LinearError::new(
                LinearErrorKind::NotFound,
                format!(
                    "pick a milestone of project `{project_name}`: every milestone is done ({}); \
                     name one with #milestone-<id> in the URL or add a new milestone",
                    names()
                ),
            )
        })
}

impl WireIssue {
    fn to_blocking_self(&self) -> Result<squadron_core::BlockingIssue, LinearError> {
        Ok(squadron_core::BlockingIssue {
            id: squadron_core::IssueId::new(self.id.clone()),
            key: IssueKey::new(self.identifier.clone()),
            state: crate::wire::state_type(&self.state.kind, &self.identifier)?,
        })
    }
}
