//! `PUT …/pulls/{n}/merge` with GitHub's guards (409 on a stale `sha`, 405 when not
//! mergeable), producing a real merge, squash or rebase on the base branch;
//! `GET …/merge` (is it merged?) and `PUT …/update-branch` (merge base into head).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use git2::Oid;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::gitops::{self, Ident};
use crate::observe::Caller;
use crate::rest::statuses::{self, ChecksVerdict};
use crate::rest::{json_with, parse_body};
use crate::server::AppState;
use crate::world::{MergeRecord, Merged, PullState};

#[derive(Debug, Deserialize)]
struct MergeRequest {
    commit_title: Option<String>,
    commit_message: Option<String>,
    sha: Option<String>,
    merge_method: Option<String>,
}

const NOT_MERGEABLE: &str = "Pull Request is not mergeable";

pub(crate) async fn merge(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name, number)): Path<(String, String, u64)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: MergeRequest = parse_body(&body)?;
    state
        .run(move |world| {
            world.refresh_tips(&owner, &name)?;
            let at = world.clock.tick().0;
            let git = world.git(&owner, &name)?;
            let repo = world.repo(&owner, &name)?;
            let pull = repo.pull(number)?;
            let method = request.merge_method.as_deref().unwrap_or("merge").to_owned();
            if !matches!(method.as_str(), "merge" | "squash" | "rebase") {
                return Err(ApiError::validation_failed(
                    json!([{"resource": "PullRequest", "field": "merge_method", "code": "invalid"}]),
                ));
            }
            if pull.state != PullState::Open {
                return Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, NOT_MERGEABLE));
            }
            if request.sha.as_deref().is_some_and(|sha| sha != pull.head_sha) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "Head branch was modified. Review and try the merge again.",
                ));
            }
            if pull.draft {
                return Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Pull Request is still a draft"));
            }
            let base = Oid::from_str(&pull.base_sha)?;
            let head = Oid::from_str(&pull.head_sha)?;
            let check = gitops::test_merge(&git, base, head)?;
            if check.conflicts {
                return Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, NOT_MERGEABLE));
            }
            if repo.settings.require_up_to_date && !check.up_to_date {
                return Err(ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Head branch is not up to date with the base branch",
                ));
            }
            if let ChecksVerdict::MissingRequired(context) = statuses::required_checks(repo, &pull.head_sha) {
                return Err(ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &format!("Required status check \"{context}\" is expected."),
                ));
            }

            let merger = world.user(caller.id).ok_or_else(ApiError::bad_credentials)?;
            let author_login = world.login(pull.author);
            let merger_email = format!("{}+{}@users.noreply.github.com", merger.id, merger.login);
            let author_email = format!("{}+{author_login}@users.noreply.github.com", pull.author);
            let committer = Ident { name: "GitHub", email: "noreply@github.com", unix_seconds: at }.signature()?;
            let title = request.commit_title.clone();
            let new_tip = match method.as_str() {
                "merge" => {
                    let subject = title.unwrap_or_else(|| {
                        format!("Merge pull request #{number} from {}/{}", repo.owner, pull.head_ref)
                    });
                    let body = request.commit_message.clone().unwrap_or_else(|| pull.title.clone());
                    let author = Ident { name: &merger.login, email: &merger_email, unix_seconds: at }.signature()?;
                    gitops::merge_commit(&git, base, head, &format!("{subject}\n\n{body}"), &author, &committer)?
                }
                "squash" => {
                    let subject = title.unwrap_or_else(|| format!("{} (#{number})", pull.title));
                    let body = match request.commit_message.clone() {
                        Some(body) => body,
                        None => squash_body(&git, base, head)?,
                    };
                    let author = Ident { name: &author_login, email: &author_email, unix_seconds: at }.signature()?;
                    gitops::squash_commit(&git, base, head, &format!("{subject}\n\n{body}"), &author, &committer)?
                }
                _ => gitops::rebase_commits(&git, base, head, &committer)?,
            };
            let Some(new_tip) = new_tip else {
                return Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, NOT_MERGEABLE));
            };
            let base_ref = pull.base_ref.clone();
            let head_sha = pull.head_sha.clone();
            let merged_by = merger.login.clone();
            if gitops::move_branch(&git, &base_ref, base, new_tip, &format!("merge pull request #{number}")).is_err() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "Base branch was modified. Review and try the merge again.",
                ));
            }
            let sha = new_tip.to_string();
            let now = world.clock.tick();
            let repo = world.repo_mut(&owner, &name)?;
            repo.merges.push(MergeRecord {
                number,
                method,
                sha: sha.clone(),
                head_sha,
                base_ref,
                merged_by,
            });
            let pull = repo.pull_mut(number)?;
            pull.state = PullState::Closed;
            pull.closed_at = Some(now);
            pull.updated_at = now;
            pull.merged = Some(Merged { sha: sha.clone(), by: caller.id, at: now });
            // The merge is a push to the base branch.
            world.observe_pushes(&owner, &name, Some(caller.id))?;
            Ok(json_with(
                StatusCode::OK,
                json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
            ))
        })
        .await
}

/// GitHub's default squash message body: one `* subject` line per squashed commit.
fn squash_body(git: &git2::Repository, base: Oid, head: Oid) -> Result<String, git2::Error> {
    let mut lines = Vec::new();
    for oid in gitops::commits_between(git, base, head)? {
        let commit = git.find_commit(oid)?;
        lines.push(format!(
            "* {}",
            commit.summary().ok().flatten().unwrap_or_default()
        ));
    }
    Ok(lines.join("\n"))
}

pub(crate) async fn is_merged(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, number)): Path<(String, String, u64)>,
) -> Result<Response, ApiError> {
    state
        .run(move |world| {
            let pull = world.repo(&owner, &name)?.pull(number)?;
            if pull.merged.is_some() {
                Ok(StatusCode::NO_CONTENT.into_response())
            } else {
                Err(ApiError::not_found())
            }
        })
        .await
}

#[derive(Debug, Deserialize)]
struct UpdateBranch {
    expected_head_sha: Option<String>,
}

pub(crate) async fn update_branch(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name, number)): Path<(String, String, u64)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: UpdateBranch = parse_body(&body)?;
    state
        .run(move |world| {
            world.refresh_tips(&owner, &name)?;
            let at = world.clock.tick().0;
            let git = world.git(&owner, &name)?;
            let repo = world.repo(&owner, &name)?;
            let pull = repo.pull(number)?;
            if request
                .expected_head_sha
                .as_deref()
                .is_some_and(|sha| sha != pull.head_sha)
            {
                return Err(ApiError::unprocessable(&[
                    "expected head sha didn’t match current head ref.",
                ]));
            }
            let base = Oid::from_str(&pull.base_sha)?;
            let head = Oid::from_str(&pull.head_sha)?;
            if base == head || git.graph_descendant_of(head, base)? {
                return Err(ApiError::unprocessable(&[
                    "There are no new commits on the base branch.",
                ]));
            }
            let caller_user = world
                .user(caller.id)
                .ok_or_else(ApiError::bad_credentials)?;
            let email = format!(
                "{}+{}@users.noreply.github.com",
                caller_user.id, caller_user.login
            );
            let author = Ident {
                name: &caller_user.login,
                email: &email,
                unix_seconds: at,
            }
            .signature()?;
            let committer = Ident {
                name: "GitHub",
                email: "noreply@github.com",
                unix_seconds: at,
            }
            .signature()?;
            let message = format!("Merge branch '{}' into {}", pull.base_ref, pull.head_ref);
            // Parents in this order keep the head's history first, as `git merge base` would.
            let Some(merged) =
                gitops::merge_commit(&git, head, base, &message, &author, &committer)?
            else {
                return Err(ApiError::unprocessable(&[
                    "merge conflict between base and head",
                ]));
            };
            gitops::move_branch(&git, &pull.head_ref, head, merged, "update branch").map_err(
                |_| ApiError::unprocessable(&["expected head sha didn’t match current head ref."]),
            )?;
            let html = format!("{}/{}/pull/{number}", world.base_url, repo.slug());
            world.observe_pushes(&owner, &name, Some(caller.id))?;
            Ok(json_with(
                StatusCode::ACCEPTED,
                json!({"message": "Updating pull request branch.", "url": html}),
            ))
        })
        .await
}
