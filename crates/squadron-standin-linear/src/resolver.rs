//! Field resolvers over the in-memory workspace, driven by apollo-compiler's executor.
//!
//! The executor walks the validated operation (selection sets, fragments, variables and
//! argument coercion are its job); these resolvers answer one field at a time. They cover the
//! fields Squadron reads and writes, honour pagination and the filters Squadron sends, and
//! answer a field error naming anything else rather than guessing, so a client change the
//! stand-in does not understand fails loudly in tests.

use std::cell::RefCell;

use apollo_compiler::resolvers::{FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use apollo_compiler::response::{JsonMap, JsonValue};

use crate::fixtures::{Attachment, Comment, RecordedMutation, Workspace};

/// Linear's default page size.
const DEFAULT_PAGE_SIZE: usize = 50;
/// Linear's largest accepted page size.
const MAX_PAGE_SIZE: usize = 250;

/// Prefix of errors that become Linear's "invalid input" errors in the response.
pub(crate) const NOT_FOUND_PREFIX: &str = "Entity not found";
/// Prefix of errors for arguments Linear would reject.
pub(crate) const INVALID_INPUT_PREFIX: &str = "Argument Validation Error";

/// What a resolved object is; entities are held by id and looked up when a field is asked.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Query,
    Mutation,
    Project(String),
    Milestone(String),
    Issue(String),
    State(String),
    Team(String),
    Label(String),
    Attachment(String),
    Relation(String),
    Comment(String),
    Viewer,
    PageInfo {
        has_next_page: bool,
        end_cursor: Option<String>,
    },
    Connection {
        type_name: &'static str,
        nodes: Vec<Kind>,
        has_next_page: bool,
        end_cursor: Option<String>,
    },
    Payload {
        type_name: &'static str,
        field: &'static str,
        node: Box<Kind>,
    },
}

/// One GraphQL object: a kind plus the workspace it lives in.
pub(crate) struct Node<'w> {
    pub(crate) workspace: &'w RefCell<Workspace>,
    pub(crate) kind: Kind,
}

fn not_found(type_name: &str, reference: &str) -> FieldError {
    FieldError {
        message: format!("{NOT_FOUND_PREFIX}: {type_name} `{reference}`"),
    }
}

fn invalid(message: String) -> FieldError {
    FieldError {
        message: format!("{INVALID_INPUT_PREFIX}: {message}"),
    }
}

fn unsupported(what: &str) -> FieldError {
    FieldError {
        message: format!("the Linear stand-in does not support {what}"),
    }
}

fn opt_leaf<'a>(value: Option<impl Into<JsonValue>>) -> ResolvedValue<'a> {
    value.map_or_else(ResolvedValue::null, ResolvedValue::leaf)
}

fn string_arg<'i>(arguments: &'i JsonMap, name: &str) -> Option<&'i str> {
    arguments.get(name).and_then(JsonValue::as_str)
}

fn required_string_arg<'i>(arguments: &'i JsonMap, name: &str) -> Result<&'i str, FieldError> {
    string_arg(arguments, name).ok_or_else(|| invalid(format!("`{name}` is required")))
}

/// Slices `ids` into one page as Linear does: `first` (default 50, at most 250) items after
/// the `after` cursor, which is the id of the last item of the previous page.
fn page(
    arguments: &JsonMap,
    ids: Vec<String>,
    type_name: &'static str,
    make: fn(String) -> Kind,
) -> Result<Kind, FieldError> {
    if arguments.get("last").is_some_and(|v| !v.is_null())
        || arguments.get("before").is_some_and(|v| !v.is_null())
    {
        return Err(unsupported("backward pagination (`last`/`before`)"));
    }
    let first = match arguments.get("first").and_then(JsonValue::as_i64) {
        None => DEFAULT_PAGE_SIZE,
        Some(n) if n < 0 => return Err(invalid(format!("`first` must be positive, got {n}"))),
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    if first > MAX_PAGE_SIZE {
        return Err(invalid(format!(
            "`first` must be at most {MAX_PAGE_SIZE}, got {first}"
        )));
    }
    let start = match string_arg(arguments, "after") {
        None => 0,
        Some(cursor) => {
            ids.iter()
                .position(|id| id == cursor)
                .ok_or_else(|| invalid(format!("unknown cursor `{cursor}`")))?
                + 1
        }
    };
    let end = (start + first).min(ids.len());
    let slice = ids.get(start..end).unwrap_or_default().to_vec();
    Ok(Kind::Connection {
        type_name,
        has_next_page: end < ids.len(),
        end_cursor: slice.last().cloned(),
        nodes: slice.into_iter().map(make).collect(),
    })
}

/// Applies a string comparator (`eq`, `neq`, `in`, `nin`, `null`, `eqIgnoreCase`).
fn compare(actual: Option<&str>, comparator: &JsonValue) -> Result<bool, FieldError> {
    let Some(comparator) = comparator.as_object() else {
        return Err(invalid("a comparator must be an object".to_owned()));
    };
    let mut matched = true;
    for (operator, expected) in comparator {
        let in_list = || {
            expected
                .as_array()
                .is_some_and(|list| list.iter().any(|item| item.as_str() == actual))
        };
        matched &= match operator.as_str() {
            "eq" => actual.is_some() && actual == expected.as_str(),
            "neq" => actual != expected.as_str(),
            "eqIgnoreCase" => match (actual, expected.as_str()) {
                (Some(a), Some(e)) => a.eq_ignore_ascii_case(e),
                _ => false,
            },
            "in" => in_list(),
            "nin" => !in_list(),
            "null" => expected.as_bool() == Some(actual.is_none()),
            other => return Err(unsupported(&format!("the comparator `{other}`"))),
        };
    }
    Ok(matched)
}

/// Applies `and`/`or` and the given per-field test to a filter object.
fn filter_matches(
    filter: Option<&JsonValue>,
    what: &str,
    field: &dyn Fn(&str, &JsonValue) -> Result<bool, FieldError>,
) -> Result<bool, FieldError> {
    let Some(filter) = filter.filter(|value| !value.is_null()) else {
        return Ok(true);
    };
    let Some(filter) = filter.as_object() else {
        return Err(invalid(format!("a {what} filter must be an object")));
    };
    let mut matched = true;
    for (key, value) in filter {
        matched &= match key.as_str() {
            "and" | "or" => {
                let parts = value.as_array().map(Vec::as_slice).unwrap_or_default();
                let results = parts
                    .iter()
                    .map(|part| filter_matches(Some(part), what, field))
                    .collect::<Result<Vec<_>, _>>()?;
                if key.as_str() == "and" {
                    results.iter().all(|r| *r)
                } else {
                    results.iter().any(|r| *r)
                }
            }
            other => field(other, value)?,
        };
    }
    Ok(matched)
}

impl Node<'_> {
    fn child(&self, kind: Kind) -> ResolvedValue<'_> {
        ResolvedValue::object(Node {
            workspace: self.workspace,
            kind,
        })
    }

    fn issue_matches(
        &self,
        issue_id: &str,
        filter: Option<&JsonValue>,
    ) -> Result<bool, FieldError> {
        let ws = self.workspace.borrow();
        let issue = ws
            .issue_by_ref(issue_id)
            .ok_or_else(|| not_found("Issue", issue_id))?;
        filter_matches(filter, "issue", &|key, value| match key {
            "id" => compare(Some(&issue.id), value),
            "projectMilestone" => {
                let milestone = issue
                    .milestone_id
                    .as_ref()
                    .and_then(|id| ws.milestones.iter().find(|m| &m.id == id));
                filter_matches(Some(value), "milestone", &|key, value| match key {
                    "id" => compare(milestone.map(|m| m.id.as_str()), value),
                    "name" => compare(milestone.map(|m| m.name.as_str()), value),
                    "null" => Ok(value.as_bool() == Some(milestone.is_none())),
                    other => Err(unsupported(&format!("the milestone filter `{other}`"))),
                })
            }
            "project" => {
                let project = issue
                    .project_id
                    .as_ref()
                    .and_then(|id| ws.projects.iter().find(|p| &p.id == id));
                filter_matches(Some(value), "project", &|key, value| match key {
                    "id" => compare(project.map(|p| p.id.as_str()), value),
                    "slugId" => compare(project.map(|p| p.slug_id.as_str()), value),
                    "null" => Ok(value.as_bool() == Some(project.is_none())),
                    other => Err(unsupported(&format!("the project filter `{other}`"))),
                })
            }
            "team" => {
                let team = ws.team(&issue.team_id);
                filter_matches(Some(value), "team", &|key, value| match key {
                    "id" => compare(team.map(|t| t.id.as_str()), value),
                    "key" => compare(team.map(|t| t.key.as_str()), value),
                    other => Err(unsupported(&format!("the team filter `{other}`"))),
                })
            }
            "state" => {
                let state = ws.state(&issue.state_id);
                filter_matches(Some(value), "state", &|key, value| match key {
                    "id" => compare(state.map(|s| s.id.as_str()), value),
                    "name" => compare(state.map(|s| s.name.as_str()), value),
                    "type" => compare(state.map(|s| s.kind.as_str()), value),
                    other => Err(unsupported(&format!("the state filter `{other}`"))),
                })
            }
            other => Err(unsupported(&format!("the issue filter `{other}`"))),
        })
    }

    fn issues_connection(
        &self,
        arguments: &JsonMap,
        candidates: Vec<String>,
    ) -> Result<Kind, FieldError> {
        let mut ids = Vec::new();
        for id in candidates {
            if self.issue_matches(&id, arguments.get("filter"))? {
                ids.push(id);
            }
        }
        page(arguments, ids, "IssueConnection", Kind::Issue)
    }

    fn resolve_query(&self, info: &ResolveInfo<'_>) -> Result<Kind, FieldError> {
        let arguments = info.arguments();
        let ws = self.workspace.borrow();
        Ok(match info.field_name() {
            "projects" => {
                let mut ids = Vec::new();
                for project in &ws.projects {
                    let matched = filter_matches(
                        arguments.get("filter"),
                        "project",
                        &|key, value| match key {
                            "id" => compare(Some(&project.id), value),
                            "slugId" => compare(Some(&project.slug_id), value),
                            "name" => compare(Some(&project.name), value),
                            other => Err(unsupported(&format!("the project filter `{other}`"))),
                        },
                    )?;
                    if matched {
                        ids.push(project.id.clone());
                    }
                }
                page(arguments, ids, "ProjectConnection", Kind::Project)?
            }
            "project" => {
                let reference = required_string_arg(arguments, "id")?;
                ws.projects
                    .iter()
                    .find(|p| p.id == reference || p.slug_id == reference)
                    .map(|p| Kind::Project(p.id.clone()))
                    .ok_or_else(|| not_found("Project", reference))?
            }
            "projectMilestone" => {
                let reference = required_string_arg(arguments, "id")?;
                ws.milestones
                    .iter()
                    .find(|m| m.id == reference)
                    .map(|m| Kind::Milestone(m.id.clone()))
                    .ok_or_else(|| not_found("ProjectMilestone", reference))?
            }
            "issues" => {
                let ids = ws.issues.iter().map(|issue| issue.id.clone()).collect();
                drop(ws);
                self.issues_connection(arguments, ids)?
            }
            "issue" => {
                let reference = required_string_arg(arguments, "id")?;
                ws.issue_by_ref(reference)
                    .map(|issue| Kind::Issue(issue.id.clone()))
                    .ok_or_else(|| not_found("Issue", reference))?
            }
            "team" => {
                let reference = required_string_arg(arguments, "id")?;
                ws.teams
                    .iter()
                    .find(|team| team.id == reference || team.key == reference)
                    .map(|team| Kind::Team(team.id.clone()))
                    .ok_or_else(|| not_found("Team", reference))?
            }
            "viewer" => Kind::Viewer,
            other => return Err(unsupported(&format!("the query field `{other}`"))),
        })
    }

    fn resolve_mutation(&self, info: &ResolveInfo<'_>) -> Result<Kind, FieldError> {
        let arguments = info.arguments();
        let mut ws = self.workspace.borrow_mut();
        let recorded = RecordedMutation {
            field: info.field_name().to_owned(),
            arguments: serde_json::to_value(arguments).unwrap_or_default(),
        };
        let kind = match info.field_name() {
            "commentCreate" => {
                let input = arguments
                    .get("input")
                    .and_then(JsonValue::as_object)
                    .ok_or_else(|| invalid("`input` is required".to_owned()))?;
                for key in input.keys() {
                    if !matches!(key.as_str(), "issueId" | "body") {
                        return Err(unsupported(&format!("CommentCreateInput.{}", key.as_str())));
                    }
                }
                let reference = required_string_arg(input, "issueId")?;
                let body = required_string_arg(input, "body")?.to_owned();
                let issue_id = ws
                    .issue_by_ref(reference)
                    .ok_or_else(|| not_found("Issue", reference))?
                    .id
                    .clone();
                let id = ws.mint_id(0xc033);
                ws.comments.push(Comment {
                    id: id.clone(),
                    issue_id,
                    body,
                });
                Kind::Payload {
                    type_name: "CommentPayload",
                    field: "comment",
                    node: Box::new(Kind::Comment(id)),
                }
            }
            "issueUpdate" => {
                let reference = required_string_arg(arguments, "id")?;
                let input = arguments
                    .get("input")
                    .and_then(JsonValue::as_object)
                    .ok_or_else(|| invalid("`input` is required".to_owned()))?;
                for key in input.keys() {
                    if key.as_str() != "stateId" {
                        return Err(unsupported(&format!("IssueUpdateInput.{}", key.as_str())));
                    }
                }
                let issue = ws
                    .issue_by_ref(reference)
                    .ok_or_else(|| not_found("Issue", reference))?;
                let issue_id = issue.id.clone();
                let team_id = issue.team_id.clone();
                if let Some(state_id) = string_arg(input, "stateId") {
                    let state = ws
                        .state(state_id)
                        .ok_or_else(|| not_found("WorkflowState", state_id))?;
                    if state.team_id != team_id {
                        return Err(invalid(format!(
                            "state `{state_id}` belongs to another team than issue `{reference}`"
                        )));
                    }
                    let state_id = state_id.to_owned();
                    if let Some(issue) = ws.issues.iter_mut().find(|issue| issue.id == issue_id) {
                        issue.state_id = state_id;
                    }
                }
                Kind::Payload {
                    type_name: "IssuePayload",
                    field: "issue",
                    node: Box::new(Kind::Issue(issue_id)),
                }
            }
            "attachmentLinkURL" => {
                for key in arguments.keys() {
                    if !matches!(key.as_str(), "issueId" | "url" | "title") {
                        return Err(unsupported(&format!(
                            "attachmentLinkURL(`{}`)",
                            key.as_str()
                        )));
                    }
                }
                let reference = required_string_arg(arguments, "issueId")?;
                let url = required_string_arg(arguments, "url")?.to_owned();
                let title = string_arg(arguments, "title").unwrap_or(&url).to_owned();
                let issue_id = ws
                    .issue_by_ref(reference)
                    .ok_or_else(|| not_found("Issue", reference))?
                    .id
                    .clone();
                // Linear keeps one attachment per URL and issue: linking again updates it.
                let existing = ws
                    .attachments
                    .iter_mut()
                    .find(|attachment| attachment.issue_id == issue_id && attachment.url == url);
                let id = if let Some(existing) = existing {
                    existing.title = title;
                    existing.id.clone()
                } else {
                    let id = ws.mint_id(0xa77a);
                    ws.attachments.push(Attachment {
                        id: id.clone(),
                        issue_id,
                        title,
                        url,
                        source_type: None,
                    });
                    id
                };
                Kind::Payload {
                    type_name: "AttachmentPayload",
                    field: "attachment",
                    node: Box::new(Kind::Attachment(id)),
                }
            }
            other => return Err(unsupported(&format!("the mutation `{other}`"))),
        };
        ws.mutations.push(recorded);
        Ok(kind)
    }
}

impl ObjectValue for Node<'_> {
    fn type_name(&self) -> &str {
        match &self.kind {
            Kind::Query => "Query",
            Kind::Mutation => "Mutation",
            Kind::Project(_) => "Project",
            Kind::Milestone(_) => "ProjectMilestone",
            Kind::Issue(_) => "Issue",
            Kind::State(_) => "WorkflowState",
            Kind::Team(_) => "Team",
            Kind::Label(_) => "IssueLabel",
            Kind::Attachment(_) => "Attachment",
            Kind::Relation(_) => "IssueRelation",
            Kind::Comment(_) => "Comment",
            Kind::Viewer => "User",
            Kind::PageInfo { .. } => "PageInfo",
            Kind::Connection { type_name, .. } | Kind::Payload { type_name, .. } => type_name,
        }
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let field = info.field_name();
        let arguments = info.arguments();
        match &self.kind {
            Kind::Query => Ok(self.child(self.resolve_query(info)?)),
            Kind::Mutation => Ok(self.child(self.resolve_mutation(info)?)),
            Kind::Connection {
                nodes,
                has_next_page,
                end_cursor,
                ..
            } => match field {
                "nodes" => Ok(ResolvedValue::list(
                    nodes.iter().map(|kind| self.child(kind.clone())),
                )),
                "pageInfo" => Ok(self.child(Kind::PageInfo {
                    has_next_page: *has_next_page,
                    end_cursor: end_cursor.clone(),
                })),
                _ => Err(unsupported(&format!("the connection field `{field}`"))),
            },
            Kind::PageInfo {
                has_next_page,
                end_cursor,
            } => Ok(match field {
                "hasNextPage" => ResolvedValue::leaf(*has_next_page),
                "endCursor" => opt_leaf(end_cursor.clone()),
                "hasPreviousPage" => ResolvedValue::leaf(false),
                "startCursor" => ResolvedValue::null(),
                _ => return Err(self.unknown_field_error(info)),
            }),
            Kind::Payload {
                field: entity_field,
                node,
                ..
            } => Ok(match field {
                "success" => ResolvedValue::leaf(true),
                "lastSyncId" => ResolvedValue::leaf(1.0),
                f if f == *entity_field => self.child((**node).clone()),
                _ => return Err(unsupported(&format!("the payload field `{field}`"))),
            }),
            Kind::Viewer => Ok(match field {
                "id" => ResolvedValue::leaf("0000-viewer"),
                "name" => ResolvedValue::leaf("Squadron Bot"),
                "email" => ResolvedValue::leaf("squadron@example.com"),
                _ => return Err(unsupported(&format!("User.{field}"))),
            }),
            Kind::Project(id) => {
                let ws = self.workspace.borrow();
                let project = ws
                    .projects
                    .iter()
                    .find(|p| &p.id == id)
                    .ok_or_else(|| not_found("Project", id))?;
                Ok(match field {
                    "id" => ResolvedValue::leaf(project.id.clone()),
                    "name" => ResolvedValue::leaf(project.name.clone()),
                    "slugId" => ResolvedValue::leaf(project.slug_id.clone()),
                    "url" => ResolvedValue::leaf(project.url.clone()),
                    "projectMilestones" => {
                        if arguments.get("filter").is_some_and(|f| !f.is_null()) {
                            return Err(unsupported("filtering projectMilestones"));
                        }
                        let mut milestones: Vec<_> = ws
                            .milestones
                            .iter()
                            .filter(|m| &m.project_id == id)
                            .collect();
                        milestones.sort_by(|a, b| a.sort_order.total_cmp(&b.sort_order));
                        let ids = milestones.iter().map(|m| m.id.clone()).collect();
                        self.child(page(
                            arguments,
                            ids,
                            "ProjectMilestoneConnection",
                            Kind::Milestone,
                        )?)
                    }
                    _ => return Err(unsupported(&format!("Project.{field}"))),
                })
            }
            Kind::Milestone(id) => {
                let ws = self.workspace.borrow();
                let milestone = ws
                    .milestones
                    .iter()
                    .find(|m| &m.id == id)
                    .ok_or_else(|| not_found("ProjectMilestone", id))?;
                Ok(match field {
                    "id" => ResolvedValue::leaf(milestone.id.clone()),
                    "name" => ResolvedValue::leaf(milestone.name.clone()),
                    "sortOrder" => ResolvedValue::leaf(milestone.sort_order),
                    "status" => ResolvedValue::leaf(milestone.status.clone()),
                    "project" => self.child(Kind::Project(milestone.project_id.clone())),
                    "issues" => {
                        let ids = ws
                            .issues
                            .iter()
                            .filter(|issue| issue.milestone_id.as_ref() == Some(id))
                            .map(|issue| issue.id.clone())
                            .collect();
                        drop(ws);
                        self.child(self.issues_connection(arguments, ids)?)
                    }
                    _ => return Err(unsupported(&format!("ProjectMilestone.{field}"))),
                })
            }
            Kind::Issue(id) => self.resolve_issue_field(id, info),
            Kind::State(id) => {
                let ws = self.workspace.borrow();
                let state = ws.state(id).ok_or_else(|| not_found("WorkflowState", id))?;
                Ok(match field {
                    "id" => ResolvedValue::leaf(state.id.clone()),
                    "name" => ResolvedValue::leaf(state.name.clone()),
                    "type" => ResolvedValue::leaf(state.kind.clone()),
                    "position" => ResolvedValue::leaf(state.position),
                    "team" => self.child(Kind::Team(state.team_id.clone())),
                    _ => return Err(unsupported(&format!("WorkflowState.{field}"))),
                })
            }
            Kind::Team(id) => {
                let ws = self.workspace.borrow();
                let team = ws.team(id).ok_or_else(|| not_found("Team", id))?;
                Ok(match field {
                    "id" => ResolvedValue::leaf(team.id.clone()),
                    "key" => ResolvedValue::leaf(team.key.clone()),
                    "name" => ResolvedValue::leaf(team.name.clone()),
                    "states" => {
                        if arguments.get("filter").is_some_and(|f| !f.is_null()) {
                            return Err(unsupported("filtering Team.states"));
                        }
                        let mut states: Vec<_> =
                            ws.states.iter().filter(|s| &s.team_id == id).collect();
                        states.sort_by(|a, b| a.position.total_cmp(&b.position));
                        let ids = states.iter().map(|s| s.id.clone()).collect();
                        self.child(page(
                            arguments,
                            ids,
                            "WorkflowStateConnection",
                            Kind::State,
                        )?)
                    }
                    _ => return Err(unsupported(&format!("Team.{field}"))),
                })
            }
            Kind::Label(name) => Ok(match field {
                "id" => ResolvedValue::leaf(format!("label-{name}")),
                "name" => ResolvedValue::leaf(name.clone()),
                _ => return Err(unsupported(&format!("IssueLabel.{field}"))),
            }),
            Kind::Attachment(id) => {
                let ws = self.workspace.borrow();
                let attachment = ws
                    .attachments
                    .iter()
                    .find(|a| &a.id == id)
                    .ok_or_else(|| not_found("Attachment", id))?;
                Ok(match field {
                    "id" => ResolvedValue::leaf(attachment.id.clone()),
                    "title" => ResolvedValue::leaf(attachment.title.clone()),
                    "url" => ResolvedValue::leaf(attachment.url.clone()),
                    "sourceType" => opt_leaf(attachment.source_type.clone()),
                    "issue" => self.child(Kind::Issue(attachment.issue_id.clone())),
                    _ => return Err(unsupported(&format!("Attachment.{field}"))),
                })
            }
            Kind::Relation(id) => {
                let ws = self.workspace.borrow();
                let relation = ws
                    .relations
                    .iter()
                    .find(|r| &r.id == id)
                    .ok_or_else(|| not_found("IssueRelation", id))?;
                Ok(match field {
                    "id" => ResolvedValue::leaf(relation.id.clone()),
                    "type" => ResolvedValue::leaf(relation.kind.clone()),
                    "issue" => self.child(Kind::Issue(relation.issue_id.clone())),
                    "relatedIssue" => self.child(Kind::Issue(relation.related_issue_id.clone())),
                    _ => return Err(unsupported(&format!("IssueRelation.{field}"))),
                })
            }
            Kind::Comment(id) => {
                let ws = self.workspace.borrow();
                let comment = ws
                    .comments
                    .iter()
                    .find(|c| &c.id == id)
                    .ok_or_else(|| not_found("Comment", id))?;
                Ok(match field {
                    "id" => ResolvedValue::leaf(comment.id.clone()),
                    "body" => ResolvedValue::leaf(comment.body.clone()),
                    "issue" => self.child(Kind::Issue(comment.issue_id.clone())),
                    _ => return Err(unsupported(&format!("Comment.{field}"))),
                })
            }
        }
    }
}

impl Node<'_> {
    fn resolve_issue_field<'a>(
        &'a self,
        id: &str,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let field = info.field_name();
        let arguments = info.arguments();
        let ws = self.workspace.borrow();
        let issue = ws.issue_by_ref(id).ok_or_else(|| not_found("Issue", id))?;
        let no_filter = |what: &str| {
            if arguments.get("filter").is_some_and(|f| !f.is_null()) {
                Err(unsupported(&format!("filtering Issue.{what}")))
            } else {
                Ok(())
            }
        };
        Ok(match field {
            "id" => ResolvedValue::leaf(issue.id.clone()),
            "identifier" => ResolvedValue::leaf(issue.identifier.clone()),
            "title" => ResolvedValue::leaf(issue.title.clone()),
            "description" => opt_leaf(issue.description.clone()),
            "estimate" => opt_leaf(issue.estimate),
            "priority" => ResolvedValue::leaf(f64::from(issue.priority)),
            "number" => {
                let number = issue
                    .identifier
                    .rsplit('-')
                    .next()
                    .and_then(|n| n.parse::<f64>().ok());
                opt_leaf(number)
            }
            "branchName" => ResolvedValue::leaf(Workspace::branch_name(issue)),
            "url" => ResolvedValue::leaf(ws.issue_url(issue)),
            "state" => self.child(Kind::State(issue.state_id.clone())),
            "team" => self.child(Kind::Team(issue.team_id.clone())),
            "project" => match &issue.project_id {
                Some(project_id) => self.child(Kind::Project(project_id.clone())),
                None => ResolvedValue::null(),
            },
            "projectMilestone" => match &issue.milestone_id {
                Some(milestone_id) => self.child(Kind::Milestone(milestone_id.clone())),
                None => ResolvedValue::null(),
            },
            "labels" => {
                no_filter("labels")?;
                self.child(page(
                    arguments,
                    issue.labels.clone(),
                    "IssueLabelConnection",
                    Kind::Label,
                )?)
            }
            "attachments" => {
                no_filter("attachments")?;
                let ids = ws
                    .attachments
                    .iter()
                    .filter(|a| a.issue_id == issue.id)
                    .map(|a| a.id.clone())
                    .collect();
                self.child(page(
                    arguments,
                    ids,
                    "AttachmentConnection",
                    Kind::Attachment,
                )?)
            }
            "relations" | "inverseRelations" => {
                let ids = ws
                    .relations
                    .iter()
                    .filter(|r| {
                        if field == "relations" {
                            r.issue_id == issue.id
                        } else {
                            r.related_issue_id == issue.id
                        }
                    })
                    .map(|r| r.id.clone())
                    .collect();
                self.child(page(
                    arguments,
                    ids,
                    "IssueRelationConnection",
                    Kind::Relation,
                )?)
            }
            "comments" => {
                no_filter("comments")?;
                let ids = ws
                    .comments
                    .iter()
                    .filter(|c| c.issue_id == issue.id)
                    .map(|c| c.id.clone())
                    .collect();
                self.child(page(arguments, ids, "CommentConnection", Kind::Comment)?)
            }
            _ => return Err(unsupported(&format!("Issue.{field}"))),
        })
    }
}
