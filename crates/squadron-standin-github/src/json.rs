//! Response bodies shaped as GitHub's published description says (`simple-user`,
//! `repository`, `pull-request`, `pull-request-review`, `review-comment`, `issue-comment`,
//! `status`, `check-run`, `check-annotation`, `integration`, `workflow-run`, `job`,
//! `diff-entry`), with every field the schemas mark required.

use serde_json::{Map, Value, json};

use crate::actions::{Annotation, Job, Outcome, WorkflowRun, run_outcome};
use crate::gitops::FileDiff;
use crate::world::{
    CheckApp, CheckRun, IssueComment, Pull, PullState, Repo, Review, ReviewComment, ReviewState,
    Status, User, UserId, World,
};

/// `simple-user` for a login, registered or not (repository owners need not be users).
pub(crate) fn simple_user(base: &str, login: &str, id: u64, kind: &str) -> Value {
    let api = format!("{base}/users/{login}");
    json!({
        "login": login,
        "id": id,
        "node_id": format!("U_{id}"),
        "avatar_url": format!("{base}/avatars/u/{id}"),
        "gravatar_id": "",
        "url": api,
        "html_url": format!("{base}/{login}"),
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false,
    })
}

pub(crate) fn user(world: &World, id: UserId) -> Value {
    match world.user(id) {
        Some(user) => simple_user(&world.base_url, &user.login, user.id, "User"),
        None => Value::Null,
    }
}

/// `private-user`, the answer to `GET /user`.
pub(crate) fn private_user(world: &World, user: &User) -> Value {
    let mut value = simple_user(&world.base_url, &user.login, user.id, "User");
    let created = user.created_at.rfc3339();
    let extra = json!({
        "name": user.login, "company": null, "blog": "", "location": null, "email": null,
        "hireable": null, "bio": null, "twitter_username": null, "notification_email": null,
        "public_repos": 0, "public_gists": 0, "followers": 0, "following": 0,
        "created_at": created, "updated_at": created,
        "private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0,
        "disk_usage": 0, "collaborators": 0, "two_factor_authentication": true,
    });
    merge(&mut value, extra);
    value
}

fn merge(target: &mut Value, extra: Value) {
    if let (Value::Object(target), Value::Object(extra)) = (target, extra) {
        target.extend(extra);
    }
}

fn owner(world: &World, repo: &Repo) -> Value {
    match world
        .users
        .iter()
        .find(|u| u.login.eq_ignore_ascii_case(&repo.owner))
    {
        Some(user) => simple_user(&world.base_url, &user.login, user.id, "User"),
        None => simple_user(&world.base_url, &repo.owner, repo.id + 1, "Organization"),
    }
}

/// `repository` (a superset of `minimal-repository`).
pub(crate) fn repository(world: &World, repo: &Repo) -> Value {
    let base = &world.base_url;
    let slug = repo.slug();
    let api = format!("{base}/repos/{slug}");
    let mut value = Map::new();
    for (key, suffix) in [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        (
            "notifications_url",
            "/notifications{?since,all,participating}",
        ),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ] {
        value.insert(key.to_owned(), Value::String(format!("{api}{suffix}")));
    }
    let created = repo.created_at.rfc3339();
    let mut value = Value::Object(value);
    merge(
        &mut value,
        json!({
            "id": repo.id,
            "node_id": format!("R_{}", repo.id),
            "name": repo.name,
            "full_name": slug,
            "owner": owner(world, repo),
            "private": true,
            "html_url": format!("{base}/{slug}"),
            "description": null,
            "fork": false,
            "url": api,
            "clone_url": format!("{base}/{slug}.git"),
            "git_url": format!("{base}/{slug}.git"),
            "ssh_url": format!("git@127.0.0.1:{slug}.git"),
            "svn_url": format!("{base}/{slug}"),
            "mirror_url": null,
            "homepage": null,
            "language": null,
            "forks": 0, "forks_count": 0, "stargazers_count": 0, "watchers": 0,
            "watchers_count": 0, "size": 0, "open_issues": 0, "open_issues_count": 0,
            "default_branch": repo.default_branch,
            "has_issues": true, "has_projects": false, "has_wiki": false, "has_pages": false,
            "has_downloads": false, "archived": false, "disabled": false,
            "visibility": "private", "license": null,
            "pushed_at": created, "created_at": created, "updated_at": created,
        }),
    );
    value
}

fn href(url: String) -> Value {
    json!({ "href": url })
}

fn association(world: &World, repo: &Repo, user: UserId) -> &'static str {
    if world.login(user).eq_ignore_ascii_case(&repo.owner) {
        "OWNER"
    } else {
        "COLLABORATOR"
    }
}

fn branch_end(world: &World, repo: &Repo, branch: &str, sha: &str) -> Value {
    json!({
        "label": format!("{}:{branch}", repo.owner),
        "ref": branch,
        "sha": sha,
        "user": owner(world, repo),
        "repo": repository(world, repo),
    })
}

/// `pull-request-simple` (lists) or `pull-request` (single reads) when `detail` is given.
pub(crate) fn pull(world: &World, repo: &Repo, pull: &Pull, detail: Option<PullDetail>) -> Value {
    let base = &world.base_url;
    let slug = repo.slug();
    let api = format!("{base}/repos/{slug}");
    let number = pull.number;
    let html = format!("{base}/{slug}/pull/{number}");
    let url = format!("{api}/pulls/{number}");
    let links = json!({
        "self": href(url.clone()),
        "html": href(html.clone()),
        "issue": href(format!("{api}/issues/{number}")),
        "comments": href(format!("{api}/issues/{number}/comments")),
        "review_comments": href(format!("{url}/comments")),
        "review_comment": href(format!("{api}/pulls/comments{{/number}}")),
        "commits": href(format!("{url}/commits")),
        "statuses": href(format!("{api}/statuses/{}", pull.head_sha)),
    });
    let mut value = json!({
        "url": url,
        "id": pull.id,
        "node_id": format!("PR_{}", pull.id),
        "html_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "issue_url": format!("{api}/issues/{number}"),
        "commits_url": format!("{url}/commits"),
        "review_comments_url": format!("{url}/comments"),
        "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
        "comments_url": format!("{api}/issues/{number}/comments"),
        "statuses_url": format!("{api}/statuses/{}", pull.head_sha),
        "number": number,
        "state": if pull.state == PullState::Open { "open" } else { "closed" },
        "locked": false,
        "title": pull.title,
        "user": user(world, pull.author),
        "body": pull.body,
        "labels": [],
        "milestone": null,
        "active_lock_reason": null,
        "created_at": pull.created_at.rfc3339(),
        "updated_at": pull.updated_at.rfc3339(),
        "closed_at": pull.closed_at.map(|t| t.rfc3339()),
        "merged_at": pull.merged.as_ref().map(|m| m.at.rfc3339()),
        "merge_commit_sha": pull.merged.as_ref().map(|m| m.sha.clone()),
        "assignee": null,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "author_association": association(world, repo, pull.author),
        "auto_merge": null,
        "draft": pull.draft,
    });
    value["_links"] = links;
    value["head"] = branch_end(world, repo, &pull.head_ref, &pull.head_sha);
    value["base"] = branch_end(world, repo, &pull.base_ref, &pull.base_sha);
    if let Some(detail) = detail {
        let comments = repo
            .issue_comments
            .iter()
            .filter(|c| c.issue_number == number)
            .count();
        merge(
            &mut value,
            json!({
                "merged": pull.merged.is_some(),
                "mergeable": detail.mergeable,
                "rebaseable": detail.mergeable,
                "mergeable_state": detail.mergeable_state,
                "merged_by": pull.merged.as_ref().map(|m| user(world, m.by)),
                "comments": comments,
                "review_comments": pull.review_comments.len(),
                "maintainer_can_modify": false,
                "commits": detail.commits,
                "additions": detail.additions,
                "deletions": detail.deletions,
                "changed_files": detail.changed_files,
            }),
        );
    }
    value
}

/// The fields only a single-PR read carries.
#[derive(Clone, Debug)]
pub(crate) struct PullDetail {
    pub(crate) mergeable: Option<bool>,
    pub(crate) mergeable_state: &'static str,
    pub(crate) commits: u64,
    pub(crate) additions: u64,
    pub(crate) deletions: u64,
    pub(crate) changed_files: u64,
}

/// `pull-request-review`.
pub(crate) fn review(world: &World, repo: &Repo, pull: &Pull, review: &Review) -> Value {
    let base = &world.base_url;
    let slug = repo.slug();
    let html = format!(
        "{base}/{slug}/pull/{}#pullrequestreview-{}",
        pull.number, review.id
    );
    let pull_url = format!("{base}/repos/{slug}/pulls/{}", pull.number);
    let mut value = json!({
        "id": review.id,
        "node_id": format!("PRR_{}", review.id),
        "user": user(world, review.user),
        "body": review.body,
        "state": review.state.as_str(),
        "html_url": html,
        "pull_request_url": pull_url,
        "_links": { "html": href(html.clone()), "pull_request": href(pull_url.clone()) },
        "commit_id": review.commit_id,
        "author_association": association(world, repo, review.user),
    });
    if review.state != ReviewState::Pending {
        value["submitted_at"] = Value::String(review.submitted_at.rfc3339());
    }
    value
}

/// `review-comment` (an inline comment of a review).
pub(crate) fn review_comment(
    world: &World,
    repo: &Repo,
    pull: &Pull,
    comment: &ReviewComment,
) -> Value {
    let base = &world.base_url;
    let slug = repo.slug();
    let url = format!("{base}/repos/{slug}/pulls/comments/{}", comment.id);
    let html = format!(
        "{base}/{slug}/pull/{}#discussion_r{}",
        pull.number, comment.id
    );
    let pull_url = format!("{base}/repos/{slug}/pulls/{}", pull.number);
    let created = comment.created_at.rfc3339();
    json!({
        "url": url,
        "pull_request_review_id": comment.review_id,
        "id": comment.id,
        "node_id": format!("PRRC_{}", comment.id),
        "diff_hunk": comment.diff_hunk,
        "path": comment.path,
        "position": comment.position,
        "original_position": comment.position,
        "commit_id": comment.commit_id,
        "original_commit_id": comment.commit_id,
        "user": user(world, comment.user),
        "body": comment.body,
        "created_at": created,
        "updated_at": created,
        "html_url": html,
        "pull_request_url": pull_url,
        "author_association": association(world, repo, comment.user),
        "_links": { "self": href(url.clone()), "html": href(html.clone()), "pull_request": href(pull_url.clone()) },
        "start_line": comment.start_line,
        "original_start_line": comment.start_line,
        "start_side": comment.start_line.map(|_| comment.side),
        "line": comment.line,
        "original_line": comment.line,
        "side": comment.side,
        "subject_type": "line",
    })
}

/// `issue-comment`.
pub(crate) fn issue_comment(world: &World, repo: &Repo, comment: &IssueComment) -> Value {
    let base = &world.base_url;
    let slug = repo.slug();
    let created = comment.created_at.rfc3339();
    json!({
        "id": comment.id,
        "node_id": format!("IC_{}", comment.id),
        "url": format!("{base}/repos/{slug}/issues/comments/{}", comment.id),
        "html_url": format!("{base}/{slug}/pull/{}#issuecomment-{}", comment.issue_number, comment.id),
        "issue_url": format!("{base}/repos/{slug}/issues/{}", comment.issue_number),
        "body": comment.body,
        "user": user(world, comment.user),
        "created_at": created,
        "updated_at": created,
        "author_association": association(world, repo, comment.user),
    })
}

/// `status`.
pub(crate) fn status(world: &World, repo: &Repo, status: &Status) -> Value {
    let created = status.created_at.rfc3339();
    json!({
        "url": format!("{}/repos/{}/statuses/{}", world.base_url, repo.slug(), status.sha),
        "avatar_url": null,
        "id": status.id,
        "node_id": format!("SC_{}", status.id),
        "state": status.state,
        "description": status.description,
        "target_url": status.target_url,
        "context": status.context,
        "created_at": created,
        "updated_at": created,
        "creator": status.creator.map(|id| user(world, id)),
    })
}

/// `simple-commit-status`, an entry of the combined status: as on GitHub, it does not say
/// who set the status (only the list of statuses does).
pub(crate) fn simple_status(world: &World, repo: &Repo, status: &Status) -> Value {
    let mut value = self::status(world, repo, status);
    if let Some(fields) = value.as_object_mut() {
        fields.remove("creator");
    }
    value
}

/// `check-run`.
pub(crate) fn check_run(world: &World, repo: &Repo, run: &CheckRun) -> Value {
    let base = &world.base_url;
    let slug = repo.slug();
    let url = format!("{base}/repos/{slug}/check-runs/{}", run.id);
    let html = run
        .details_url
        .clone()
        .unwrap_or_else(|| format!("{base}/{slug}/runs/{}", run.id));
    json!({
        "id": run.id,
        "head_sha": run.head_sha,
        "node_id": format!("CR_{}", run.id),
        "external_id": run.external_id,
        "url": url,
        "html_url": html,
        "details_url": html,
        "status": run.status,
        "conclusion": run.conclusion,
        "started_at": run.started_at.rfc3339(),
        "completed_at": run.completed_at.map(|t| t.rfc3339()),
        "output": {
            "title": run.output.title,
            "summary": run.output.summary,
            "text": run.output.text,
            "annotations_count": run.output.annotations.len(),
            "annotations_url": format!("{url}/annotations"),
        },
        "name": run.name,
        "check_suite": { "id": run.check_suite_id },
        "app": app(world, run.app),
        "pull_requests": [],
    })
}

/// `integration`: GitHub Actions, or the stand-in's external CI app.
fn app(world: &World, app: CheckApp) -> Value {
    let base = &world.base_url;
    let (id, owner_id, slug, name, owner): (u64, u64, _, _, _) = match app {
        CheckApp::Actions => (15368, 9919, "github-actions", "GitHub Actions", "github"),
        CheckApp::External => (4242, 4243, "standin-ci", "Stand-in CI", "standin-ci"),
    };
    json!({
        "id": id,
        "slug": slug,
        "node_id": format!("MDM6QXBw{id}"),
        "owner": simple_user(base, owner, owner_id, "Organization"),
        "name": name,
        "description": "",
        "external_url": format!("{base}/apps/{slug}"),
        "html_url": format!("{base}/apps/{slug}"),
        "created_at": "2018-07-30T09:30:17Z",
        "updated_at": "2019-12-10T19:04:12Z",
        "permissions": { "checks": "write", "metadata": "read" },
        "events": ["check_run", "check_suite", "pull_request", "push"],
    })
}

/// `check-annotation`.
pub(crate) fn annotation(world: &World, repo: &Repo, run: &CheckRun, note: &Annotation) -> Value {
    json!({
        "path": note.path,
        "blob_href": format!("{}/{}/blob/{}/{}", world.base_url, repo.slug(), run.head_sha, note.path),
        "start_line": note.line,
        "end_line": note.line,
        "start_column": null,
        "end_column": null,
        "annotation_level": "failure",
        "title": null,
        "message": note.message,
        "raw_details": null,
    })
}

/// `workflow-run`.
pub(crate) fn workflow_run(world: &World, repo: &Repo, run: &WorkflowRun) -> Value {
    let base = &world.base_url;
    let slug = repo.slug();
    let api = format!("{base}/repos/{slug}");
    let url = format!("{api}/actions/runs/{}", run.id);
    let workflow = repo.workflows.get(run.workflow);
    let outcome = run_outcome(&repo.jobs, run);
    let (status, conclusion) = match outcome {
        Some(Outcome::Queued) | None => ("queued", None),
        Some(Outcome::Success) => ("completed", Some("success")),
        Some(Outcome::Failure) => ("completed", Some("failure")),
    };
    let workflow_id = 7000 + run.workflow as u64;
    let head_commit = world
        .git(&repo.owner, &repo.name)
        .ok()
        .and_then(|git| {
            let oid = git2::Oid::from_str(&run.head_sha).ok()?;
            let commit = git.find_commit(oid).ok()?;
            let person = |sig: git2::Signature<'_>| {
                json!({"name": sig.name().unwrap_or_default(), "email": sig.email().unwrap_or_default()})
            };
            Some(json!({
                "id": run.head_sha,
                "tree_id": commit.tree_id().to_string(),
                "message": commit.message().unwrap_or_default(),
                "timestamp": crate::clock::Instant(commit.time().seconds()).rfc3339(),
                "author": person(commit.author()),
                "committer": person(commit.committer()),
            }))
        })
        .unwrap_or(Value::Null);
    let pull_requests: Vec<Value> = run
        .pull_number
        .and_then(|number| repo.pull(number).ok())
        .map(|pull| {
            json!({
                "id": pull.id,
                "number": pull.number,
                "url": format!("{api}/pulls/{}", pull.number),
                "head": {"ref": pull.head_ref, "sha": pull.head_sha, "repo": {"id": repo.id, "url": api, "name": repo.name}},
                "base": {"ref": pull.base_ref, "sha": pull.base_sha, "repo": {"id": repo.id, "url": api, "name": repo.name}},
            })
        })
        .into_iter()
        .collect();
    let repository = repository(world, repo);
    let mut value = json!({
        "id": run.id,
        "name": workflow.map(|w| w.name.clone()),
        "node_id": format!("WFR_{}", run.id),
        "check_suite_id": run.check_suite_id,
        "check_suite_node_id": format!("CS_{}", run.check_suite_id),
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": workflow.map(|w| w.path.clone()).unwrap_or_default(),
        "run_number": run.run_number,
        "run_attempt": run.run_attempt,
        "referenced_workflows": [],
        "event": run.event.as_str(),
        "status": status,
        "conclusion": conclusion,
        "workflow_id": workflow_id,
        "url": url,
        "html_url": format!("{base}/{slug}/actions/runs/{}", run.id),
        "pull_requests": pull_requests,
        "created_at": run.created_at.rfc3339(),
        "updated_at": run.updated_at.rfc3339(),
        "run_started_at": run.created_at.rfc3339(),
        "jobs_url": format!("{url}/jobs"),
        "logs_url": format!("{url}/logs"),
        "check_suite_url": format!("{api}/check-suites/{}", run.check_suite_id),
        "artifacts_url": format!("{url}/artifacts"),
        "cancel_url": format!("{url}/cancel"),
        "rerun_url": format!("{url}/rerun"),
        "previous_attempt_url": (run.run_attempt > 1).then(|| format!("{url}/attempts/{}", run.run_attempt - 1)),
        "workflow_url": format!("{api}/actions/workflows/{workflow_id}"),
        "head_commit": head_commit,
        "repository": repository.clone(),
        "head_repository": repository,
        "head_repository_id": repo.id,
        "display_title": run
            .pull_number
            .and_then(|number| repo.pull(number).ok())
            .map_or_else(|| workflow.map(|w| w.name.clone()).unwrap_or_default(), |p| p.title.clone()),
    });
    if let Some(actor) = run.actor {
        value["actor"] = user(world, actor);
        value["triggering_actor"] = user(world, actor);
    }
    value
}

/// `job`.
pub(crate) fn job(world: &World, repo: &Repo, run: &WorkflowRun, job: &Job) -> Value {
    let base = &world.base_url;
    let slug = repo.slug();
    let api = format!("{base}/repos/{slug}");
    let workflow = repo.workflows.get(run.workflow);
    let name = workflow.map(|w| w.job.clone()).unwrap_or_default();
    let done = job.completed_at.map(|t| t.rfc3339());
    let step = |number: u64, step: &str, conclusion: Option<&str>| {
        json!({
            "name": step,
            "status": if job.completed_at.is_some() { "completed" } else { "queued" },
            "conclusion": conclusion,
            "number": number,
            "started_at": job.completed_at.map(|_| job.started_at.rfc3339()),
            "completed_at": done,
        })
    };
    let conclusion = job.conclusion();
    let steps = if job.completed_at.is_some() {
        vec![
            step(1, "Set up job", Some("success")),
            step(2, "Run actions/checkout@v4", Some("success")),
            step(3, "Run tests", conclusion),
            step(4, "Complete job", Some("success")),
        ]
    } else {
        Vec::new()
    };
    let picked_up = job.completed_at.is_some();
    json!({
        "id": job.id,
        "run_id": run.id,
        "run_url": format!("{api}/actions/runs/{}", run.id),
        "run_attempt": job.run_attempt,
        "node_id": format!("CR_{}", job.id),
        "head_sha": run.head_sha,
        "url": format!("{api}/actions/jobs/{}", job.id),
        "html_url": format!("{base}/{slug}/actions/runs/{}/job/{}", run.id, job.id),
        "status": job.status(),
        "conclusion": conclusion,
        "created_at": job.created_at.rfc3339(),
        "started_at": job.started_at.rfc3339(),
        "completed_at": done,
        "name": name,
        "steps": steps,
        "check_run_url": format!("{api}/check-runs/{}", job.id),
        "labels": ["ubuntu-latest"],
        "runner_id": picked_up.then_some(1),
        "runner_name": picked_up.then_some("GitHub Actions 1"),
        "runner_group_id": picked_up.then_some(1),
        "runner_group_name": picked_up.then_some("GitHub Actions"),
        "workflow_name": workflow.map(|w| w.name.clone()),
        "head_branch": run.head_branch,
    })
}

/// `diff-entry` for `GET …/pulls/{n}/files`.
pub(crate) fn diff_entry(world: &World, repo: &Repo, head_sha: &str, file: &FileDiff) -> Value {
    let base = &world.base_url;
    let slug = repo.slug();
    let path = &file.filename;
    let mut value = json!({
        "sha": file.sha,
        "filename": path,
        "status": file.status,
        "additions": file.additions,
        "deletions": file.deletions,
        "changes": file.additions + file.deletions,
        "blob_url": format!("{base}/{slug}/blob/{head_sha}/{path}"),
        "raw_url": format!("{base}/{slug}/raw/{head_sha}/{path}"),
        "contents_url": format!("{base}/repos/{slug}/contents/{path}?ref={head_sha}"),
        "patch": file.patch,
    });
    if let Some(previous) = &file.previous_filename {
        value["previous_filename"] = Value::String(previous.clone());
    }
    value
}
