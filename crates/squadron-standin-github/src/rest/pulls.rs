//! Pull requests: list (filters `state`, `head`, `base`), create (one open PR per head and
//! base, as GitHub enforces), get (with background mergeability), update, and files.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::gitops;
use crate::json::{self, PullDetail};
use crate::observe::Caller;
use crate::rest::statuses::{self, ChecksVerdict};
use crate::rest::{PageQuery, json_with, list_url, paginated, parse_body};
use crate::server::AppState;
use crate::world::{Mergeability, Pull, PullState, World};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    state: Option<String>,
    head: Option<String>,
    base: Option<String>,
    direction: Option<String>,
    per_page: Option<usize>,
    page: Option<usize>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Result<Response, ApiError> {
    state
        .run(move |world| {
            world.refresh_tips(&owner, &name)?;
            let repo = world.repo(&owner, &name)?;
            let wanted_state = query.state.as_deref().unwrap_or("open");
            if !matches!(wanted_state, "open" | "closed" | "all") {
                return Err(ApiError::validation_failed(
                    json!([{"resource": "Issue", "field": "state", "code": "invalid"}]),
                ));
            }
            let head = query
                .head
                .as_deref()
                .map(|head| match head.split_once(':') {
                    Some((owner, branch)) => (Some(owner), branch),
                    None => (None, head),
                });
            let mut pulls: Vec<&Pull> = repo
                .pulls
                .iter()
                .filter(|p| match wanted_state {
                    "open" => p.state == PullState::Open,
                    "closed" => p.state == PullState::Closed,
                    _ => true,
                })
                .filter(|p| {
                    head.is_none_or(|(owner, branch)| {
                        p.head_ref == branch
                            && owner.is_none_or(|o| o.eq_ignore_ascii_case(&repo.owner))
                    })
                })
                .filter(|p| query.base.as_deref().is_none_or(|b| p.base_ref == b))
                .collect();
            // GitHub sorts by creation, newest first unless asked otherwise.
            pulls.sort_by_key(|p| std::cmp::Reverse(p.number));
            if query.direction.as_deref() == Some("asc") {
                pulls.reverse();
            }
            let items = pulls
                .iter()
                .map(|p| json::pull(world, repo, p, None))
                .collect();
            let page = PageQuery {
                per_page: query.per_page,
                page: query.page,
            };
            Ok(paginated(items, &page, &list_url(&world.base_url, &uri)))
        })
        .await
}

#[derive(Debug, Deserialize)]
struct CreatePull {
    title: Option<String>,
    head: Option<String>,
    base: Option<String>,
    body: Option<String>,
    #[serde(default)]
    draft: bool,
}

fn missing(field: &str) -> ApiError {
    ApiError::validation_failed(
        json!([{"resource": "PullRequest", "field": field, "code": "missing_field"}]),
    )
}

fn invalid(field: &str) -> ApiError {
    ApiError::validation_failed(
        json!([{"resource": "PullRequest", "field": field, "code": "invalid"}]),
    )
}

fn custom(message: String) -> ApiError {
    ApiError::validation_failed(
        json!([{"resource": "PullRequest", "code": "custom", "message": message}]),
    )
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: CreatePull = parse_body(&body)?;
    state
        .run(move |world| {
            let title = request
                .title
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| missing("title"))?;
            let head = request.head.ok_or_else(|| missing("head"))?;
            let base = request.base.ok_or_else(|| missing("base"))?;
            world.refresh_tips(&owner, &name)?;
            let git = world.git(&owner, &name)?;
            let repo = world.repo(&owner, &name)?;
            let head_ref = match head.split_once(':') {
                Some((head_owner, _)) if !head_owner.eq_ignore_ascii_case(&repo.owner) => {
                    return Err(invalid("head"));
                }
                Some((_, branch)) => branch.to_owned(),
                None => head.clone(),
            };
            let base_tip = gitops::branch_tip(&git, &base).ok_or_else(|| invalid("base"))?;
            let head_tip = gitops::branch_tip(&git, &head_ref).ok_or_else(|| invalid("head"))?;
            if repo
                .pulls
                .iter()
                .any(|p| p.state == PullState::Open && p.head_ref == head_ref && p.base_ref == base)
            {
                return Err(custom(format!(
                    "A pull request already exists for {}:{head_ref}.",
                    repo.owner
                )));
            }
            if head_tip == base_tip || git.graph_descendant_of(base_tip, head_tip)? {
                return Err(custom(format!("No commits between {base} and {head_ref}")));
            }
            let id = world.next_id();
            let now = world.clock.tick();
            let repo = world.repo_mut(&owner, &name)?;
            let number = repo.next_number;
            repo.next_number += 1;
            repo.pulls.push(Pull {
                id,
                number,
                title,
                body: request.body,
                author: caller.id,
                head_ref,
                base_ref: base,
                head_sha: head_tip.to_string(),
                base_sha: base_tip.to_string(),
                draft: request.draft,
                state: PullState::Open,
                created_at: now,
                updated_at: now,
                closed_at: None,
                merged: None,
                mergeability: Mergeability::default(),
                reviews: Vec::new(),
                review_comments: Vec::new(),
            });
            // Opening a pull request is the `pull_request` event workflows run on.
            world.run_pull_request_workflows(&owner, &name, number, Some(caller.id))?;
            let detail = PullDetail {
                mergeable: None,
                mergeable_state: "unknown",
                ..diff_stats(world, &owner, &name, number)?
            };
            let repo = world.repo(&owner, &name)?;
            Ok(json_with(
                StatusCode::CREATED,
                json::pull(world, repo, repo.pull(number)?, Some(detail)),
            ))
        })
        .await
}

pub(crate) async fn get(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, number)): Path<(String, String, u64)>,
) -> Result<Json<Value>, ApiError> {
    state
        .run(move |world| read_pull(world, &owner, &name, number, Read::Counted).map(Json))
        .await
}

/// Whether an answer holding a PR counts as one of the reads after which GitHub has
/// computed its mergeability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// A `GET` of the PR: what a client polls mergeability with.
    Counted,
    /// The answer to a write (an edit of its title or body): it says what is known, and
    /// does not stand in for the next `GET`.
    Uncounted,
}

/// The full `pull-request` answer; a [`Read::Counted`] advances the background
/// mergeability computation.
pub(crate) fn read_pull(
    world: &mut World,
    owner: &str,
    name: &str,
    number: u64,
    read: Read,
) -> Result<Value, ApiError> {
    world.refresh_tips(owner, name)?;
    let detail = detail(world, owner, name, number, read)?;
    let repo = world.repo(owner, name)?;
    Ok(json::pull(world, repo, repo.pull(number)?, Some(detail)))
}

fn diff_stats(world: &World, owner: &str, name: &str, number: u64) -> Result<PullDetail, ApiError> {
    let git = world.git(owner, name)?;
    let pull = world.repo(owner, name)?.pull(number)?;
    let base = git2::Oid::from_str(&pull.base_sha)?;
    let head = git2::Oid::from_str(&pull.head_sha)?;
    let files = gitops::pull_diff(&git, base, head)?;
    Ok(PullDetail {
        mergeable: None,
        mergeable_state: "unknown",
        commits: gitops::commits_between(&git, base, head)?.len() as u64,
        additions: files.iter().map(|f| f.additions).sum(),
        deletions: files.iter().map(|f| f.deletions).sum(),
        changed_files: files.len() as u64,
    })
}

/// `mergeable` and `mergeable_state`: `null`/`unknown` for the first counted reads after the
/// head or base moved, then the result of a real test merge combined with branch protection.
fn detail(
    world: &mut World,
    owner: &str,
    name: &str,
    number: u64,
    read: Read,
) -> Result<PullDetail, ApiError> {
    let stats = diff_stats(world, owner, name, number)?;
    let git = world.git(owner, name)?;
    let null_reads = world.mergeable_null_reads;
    let repo = world.repo_mut(owner, name)?;
    let settings = repo.settings.clone();
    let checks = {
        let pull = repo.pull(number)?;
        statuses::required_checks(repo, &pull.head_sha)
    };
    let pull = repo.pull_mut(number)?;
    if pull.state == PullState::Closed {
        return Ok(stats);
    }
    let key = (pull.head_sha.clone(), pull.base_sha.clone());
    if pull.mergeability.key.as_ref() != Some(&key) {
        pull.mergeability = Mergeability {
            key: Some(key),
            null_reads_left: null_reads,
            result: None,
        };
    }
    if pull.mergeability.null_reads_left > 0 {
        if read == Read::Counted {
            pull.mergeability.null_reads_left -= 1;
        }
        return Ok(stats);
    }
    let check = match pull.mergeability.result {
        Some(check) => check,
        None => {
            let base = git2::Oid::from_str(&pull.base_sha)?;
            let head = git2::Oid::from_str(&pull.head_sha)?;
            let check = gitops::test_merge(&git, base, head)?;
            let result = (!check.conflicts, check.up_to_date);
            pull.mergeability.result = Some(result);
            result
        }
    };
    let (mergeable, up_to_date) = check;
    let state = if pull.draft {
        "draft"
    } else if !mergeable {
        "dirty"
    } else if settings.require_up_to_date && !up_to_date {
        "behind"
    } else {
        match checks {
            ChecksVerdict::MissingRequired(_) => "blocked",
            ChecksVerdict::OtherFailing => "unstable",
            ChecksVerdict::Green => "clean",
        }
    };
    Ok(PullDetail {
        mergeable: Some(mergeable),
        mergeable_state: state,
        ..stats
    })
}

#[derive(Debug, Deserialize)]
struct UpdatePull {
    title: Option<String>,
    body: Option<String>,
    state: Option<String>,
    base: Option<String>,
}

pub(crate) async fn update(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, number)): Path<(String, String, u64)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: UpdatePull = parse_body(&body)?;
    state
        .run(move |world| {
            let git = world.git(&owner, &name)?;
            if let Some(base) = &request.base {
                gitops::branch_tip(&git, base).ok_or_else(|| invalid("base"))?;
            }
            let now = world.clock.tick();
            let pull = world.repo_mut(&owner, &name)?.pull_mut(number)?;
            if let Some(title) = request.title {
                pull.title = title;
            }
            if let Some(body) = request.body {
                pull.body = Some(body);
            }
            if let Some(base) = request.base {
                pull.base_ref = base;
            }
            match request.state.as_deref() {
                None => {}
                Some("closed") if pull.state == PullState::Open => {
                    pull.state = PullState::Closed;
                    pull.closed_at = Some(now);
                }
                Some("open") if pull.merged.is_some() => {
                    return Err(custom("Cannot reopen a merged pull request".to_owned()));
                }
                Some("open") => {
                    pull.state = PullState::Open;
                    pull.closed_at = None;
                }
                Some("closed") => {}
                Some(_) => return Err(invalid("state")),
            }
            pull.updated_at = now;
            read_pull(world, &owner, &name, number, Read::Uncounted).map(Json)
        })
        .await
}

pub(crate) async fn files(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, number)): Path<(String, String, u64)>,
    Query(page): Query<PageQuery>,
    uri: Uri,
) -> Result<Response, ApiError> {
    state
        .run(move |world| {
            world.refresh_tips(&owner, &name)?;
            let git = world.git(&owner, &name)?;
            let repo = world.repo(&owner, &name)?;
            let pull = repo.pull(number)?;
            let base = git2::Oid::from_str(&pull.base_sha)?;
            let head = git2::Oid::from_str(&pull.head_sha)?;
            let files = gitops::pull_diff(&git, base, head)?;
            let items = files
                .iter()
                .map(|f| json::diff_entry(world, repo, &pull.head_sha, f))
                .collect();
            Ok(paginated(items, &page, &list_url(&world.base_url, &uri)))
        })
        .await
}
