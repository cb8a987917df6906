//! `ResolveConflicts`: a rebase that stopped on conflicts becomes a turn of the Developer (and
//! QA for test files). The branch's change, as pushed, is merged onto the base's tip with
//! conflict markers in the worktree; the writers get the files with their markers, what the
//! other squads' PRs that landed on the base were for and what this issue is for, and
//! resolve them. Verifying then tests, commits and pushes the resolution, and both reviewers
//! review it again: a resolved patch is a new change.

use squadron_config::{
    ConflictContext, ConflictFileContext, LandedContext, PromptName, TaskContext, Untrusted,
};
use squadron_core::effect::{EffectKey, EffectResult, OpenedPr};
use squadron_core::gate::CommitSha;
use squadron_core::scheduler::{Event, LandedChange};
use squadron_core::{IssueKey, Phase, Role, StepFailure};
use squadron_harness::adopt_merged_tests;

use super::stop::{StepResult, Stop};
use super::writers::{answer_test_change_requests, developer_and_qa};
use crate::log_events;
use crate::outcome::Outcome;
use crate::prompts::task_context;
use crate::shared::Shared;
use crate::squad::SquadCtx;

/// The most of one conflicting file the writers are shown in their task; they read the
/// rest with their file tools.
const EXCERPT_CAP: usize = 6 * 1024;
/// Lines shown around each conflict.
const CONTEXT_LINES: usize = 3;
/// The most of another squad's issue description shown as its intent.
const DESCRIPTION_CAP: usize = 2 * 1024;
/// The largest conflicting file read back to look for markers left in it.
const FILE_CAP: u64 = 8 * 1024 * 1024;
/// Turns the writers get to leave no conflict marker behind.
const ATTEMPTS: u32 = 2;

/// Another squad's PR on the base, with what its issue says it was for.
pub(crate) struct Landed {
    pub change: LandedChange,
    pub description: String,
}

/// The other squads' PRs of this run among `commits` (the base's commits since the branch
/// forked): each merged squad's merge commit is in the store's journal, its PR too. An issue
/// that cannot be read is named without its title.
pub(crate) async fn landed_changes(
    shared: &Shared,
    ctx: &SquadCtx,
    commits: &[CommitSha],
) -> Vec<Landed> {
    let store = &shared.services.store;
    let squads = match store.squads_of_run(&ctx.run).await {
        Ok(squads) => squads,
        Err(error) => {
            tracing::warn!(squad = %ctx.squad, %error, "could not read the run's squads to name what landed");
            return Vec::new();
        }
    };
    let mut landed = Vec::new();
    for record in squads {
        let squad = &record.squad;
        if squad.id == ctx.squad || squad.phase != Phase::Merged {
            continue;
        }
        let merge = EffectKey::Merge {
            squad: squad.id.clone(),
        };
        let Some(sha) = journaled::<CommitSha>(shared, &merge).await else {
            continue;
        };
        if !commits.contains(&sha) {
            continue;
        }
        let open_pr = EffectKey::OpenPr {
            squad: squad.id.clone(),
        };
        let pr_url = journaled::<OpenedPr>(shared, &open_pr)
            .await
            .map(|opened| opened.url);
        let (title, description) = issue_intent(shared, &squad.issue).await;
        landed.push(Landed {
            change: LandedChange {
                issue: squad.issue.clone(),
                title,
                pr_url,
            },
            description,
        });
    }
    landed
}

/// What a done effect produced, if it produced a `T`.
async fn journaled<T: TryFrom<EffectResult>>(shared: &Shared, key: &EffectKey) -> Option<T> {
    let result = shared.services.store.journal_result(key).await.ok()??;
    T::try_from(result).ok()
}

/// An issue's title and description, empty when it cannot be read.
async fn issue_intent(shared: &Shared, issue: &IssueKey) -> (String, String) {
    match shared.services.tracker.fetch_issue(issue.as_str()).await {
        Ok(issue) => (issue.title, capped(&issue.description, DESCRIPTION_CAP)),
        Err(error) => {
            tracing::warn!(%issue, %error, "could not read the issue of a PR the branch conflicts with");
            (String::new(), String::new())
        }
    }
}

/// The conflict-resolution round: merges the pushed branch onto the base with markers and
/// runs the writers on them until no marker is left (or a person must finish it).
pub(crate) async fn resolve_conflicts(
    shared: &Shared,
    ctx: &mut SquadCtx,
    round: u32,
) -> StepResult {
    let workspace = ctx.ensure_workspace(shared).await?;
    ctx.ensure_diagnosis(shared).await?;
    let target = ctx.target(shared).await?;
    let root = workspace.worktree.root().to_path_buf();
    // The pushed branch is the change the reviewers saw; starting from it makes the step
    // safe to repeat whatever an interrupted attempt left in the worktree.
    let head = ctx.remote_sha.clone().ok_or_else(|| {
        StepFailure::internal(format!(
            "resolve the conflicts of {}: its branch was never pushed",
            ctx.issue_key
        ))
    })?;
    let merged = shared
        .services
        .workspaces
        .merge_onto_base(&root, &target.base_branch, &head)
        .await
        .map_err(|error| {
            StepFailure::port(
                format!(
                    "merge {} onto {} to resolve its conflicts",
                    ctx.issue_key, target.base_branch
                ),
                &error,
            )
        })?;
    if let Some(prepared) = ctx.worktree.as_mut() {
        prepared.base_sha = merged.base.clone();
        prepared.head_sha = merged.base.clone();
    }
    adopt_merged_tests(&workspace, &merged.changed, &merged.conflicts)
        .await
        .map_err(|error| StepFailure::needs_person(format!("keep QA's merged tests: {error}")))?;
    let landed = landed_changes(shared, ctx, &merged.landed).await;
    let issues: Vec<&str> = landed.iter().map(|l| l.change.issue.as_str()).collect();
    tracing::info!(
        event = log_events::CONFLICT_ROUND,
        squad = %ctx.squad, issue = %ctx.issue_key, round, conflicts = ?merged.conflicts,
        landed = ?issues, "a conflict-resolution round: the conflicts go to the agents"
    );
    log_events::conflict_round(shared, &ctx.squad, round, &merged.conflicts, &issues).await;
    let max = shared.settings.scheduler.conflict_rounds;
    // Each attempt goes to the writers of the files still to resolve: all of them first,
    // then those still holding a marker.
    let mut pending = merged.conflicts.clone();
    let mut extra = None;
    for attempt in 1..=ATTEMPTS {
        if pending.is_empty() {
            break;
        }
        let mut files = Vec::new();
        for path in &merged.conflicts {
            let text = read(&workspace, path).await.unwrap_or_default();
            files.push(ConflictFileContext {
                path: path.clone(),
                test_file: workspace.policy.test_globs.matches(path),
                excerpt: Untrusted::new(
                    format!("conflicts in {path}"),
                    conflict_excerpt(&text, EXCERPT_CAP),
                ),
            });
        }
        let qa_needed = files
            .iter()
            .any(|file| file.test_file && pending.contains(&file.path));
        let conflict = ConflictContext {
            round,
            max_rounds: max,
            base_sha: merged.base.to_string(),
            files,
            landed: landed.iter().map(landed_context).collect(),
        };
        let developer_task = conflict_task(ctx, shared, Role::Developer, &conflict);
        let qa_task = conflict_task(ctx, shared, Role::Qa, &conflict);
        developer_and_qa(
            shared,
            ctx,
            (PromptName::ResolveConflicts, &developer_task),
            qa_needed.then_some((PromptName::ResolveConflicts, &qa_task)),
            extra.as_deref(),
        )
        .await?;
        answer_test_change_requests(shared, ctx, 0).await?;
        pending = files_with_markers(&workspace, &merged.conflicts).await;
        if !pending.is_empty() && attempt == ATTEMPTS {
            let changes: Vec<String> = landed.iter().map(|l| l.change.to_string()).collect();
            return Err(Stop::NeedsHuman(format!(
                "the agents left conflict markers in {} after {ATTEMPTS} attempts to resolve \
                 the branch's conflicts with {} ({}): resolve them by hand",
                quoted(&pending),
                target.base_branch,
                if changes.is_empty() {
                    "what landed since the branch forked".to_owned()
                } else {
                    changes.join(", ")
                }
            )));
        }
        extra = Some(format!(
            "## Conflict markers remain\nThese files still hold conflict markers: {}. Resolve every one, run the tests, then call `finish`.",
            quoted(&pending)
        ));
    }
    Ok(vec![Outcome::Event(Event::ConflictsResolved {
        squad: ctx.squad.clone(),
        round,
    })])
}

/// The task of `role` in a conflict round.
fn conflict_task(
    ctx: &SquadCtx,
    shared: &Shared,
    role: Role,
    conflict: &ConflictContext,
) -> TaskContext {
    let max = shared.settings.scheduler.max_review_rounds;
    let mut task = task_context(ctx, role, 0, max);
    task.conflict = Some(conflict.clone());
    task
}

fn landed_context(landed: &Landed) -> LandedContext {
    let issue = &landed.change.issue;
    LandedContext {
        issue: issue.to_string(),
        pr_url: landed.change.pr_url.clone(),
        title: Untrusted::new(format!("title of {issue}"), landed.change.title.clone()),
        description: Untrusted::new(
            format!("description of {issue}"),
            landed.description.clone(),
        ),
    }
}

async fn read(workspace: &squadron_harness::SquadWorkspace, path: &str) -> Option<String> {
    let bytes = workspace
        .worktree
        .read_nofollow(path, FILE_CAP)
        .await
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The files of `paths` that still hold a conflict marker (a file that is gone holds none).
async fn files_with_markers(
    workspace: &squadron_harness::SquadWorkspace,
    paths: &[String],
) -> Vec<String> {
    let mut left = Vec::new();
    for path in paths {
        if let Some(text) = read(workspace, path).await
            && text.lines().any(is_marker)
        {
            left.push(path.clone());
        }
    }
    left
}

/// A line git writes to open or close a conflict.
fn is_marker(line: &str) -> bool {
    line.starts_with("<<<<<<< ") || line.starts_with(">>>>>>> ")
}

/// Each conflict of `text` with its markers and [`CONTEXT_LINES`] lines around it, lines
/// numbered, regions that touch merged, cut at `cap` bytes.
pub(crate) fn conflict_excerpt(text: &str, cap: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut regions: Vec<(usize, usize)> = Vec::new();
    let mut open = None;
    for (index, line) in lines.iter().enumerate() {
        if line.starts_with("<<<<<<< ") {
            open.get_or_insert(index);
        } else if line.starts_with(">>>>>>> ")
            && let Some(start) = open.take()
        {
            let from = start.saturating_sub(CONTEXT_LINES);
            let to = (index + CONTEXT_LINES).min(lines.len().saturating_sub(1));
            match regions.last_mut() {
                Some(last) if from <= last.1 + 1 => last.1 = to,
                _ => regions.push((from, to)),
            }
        }
    }
    if regions.is_empty() {
        return "(no conflict markers: one side changed the file and the other deleted it; the \
                file is as the side that kept it left it)"
            .to_owned();
    }
    let mut out = String::new();
    for (number, (from, to)) in regions.into_iter().enumerate() {
        if number > 0 {
            out.push_str("   ...\n");
        }
        for (index, line) in lines.iter().enumerate().take(to + 1).skip(from) {
            let numbered = format!("{:>5} | {line}\n", index + 1);
            if out.len() + numbered.len() > cap {
                out.push_str("(cut here: read the file for the rest)\n");
                return out;
            }
            out.push_str(&numbered);
        }
    }
    out
}

/// `text` cut to at most `cap` bytes on a character boundary.
fn capped(text: &str, cap: usize) -> String {
    if text.len() <= cap {
        return text.to_owned();
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n(cut)", &text[..end])
}

fn quoted(paths: &[String]) -> String {
    paths
        .iter()
        .map(|path| format!("`{path}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_excerpt_shows_each_conflict_numbered_with_its_context() {
        let mut text = String::new();
        for n in 1..=12 {
            text.push_str(&format!("line {n}\n"));
        }
        text.push_str("<<<<<<< main (5e6f7a8b9c0d)\nRATE = 100\n||||||| where the branch forked\nRATE = 10\n=======\nRATE = 1000\n>>>>>>> eng-2-cents (0f9e8d7c6b5a)\n");
        for n in 13..=30 {
            text.push_str(&format!("line {n}\n"));
        }
        text.push_str("<<<<<<< main (5e6f7a8b9c0d)\nA\n=======\nB\n>>>>>>> eng-2-cents (0f9e8d7c6b5a)\nlast\n");
        insta::assert_snapshot!(conflict_excerpt(&text, 4096));
    }

    #[test]
    fn a_long_conflict_is_cut_and_a_file_without_markers_says_why() {
        let long = format!(
            "<<<<<<< main (1)\n{}=======\nB\n>>>>>>> branch (2)\n",
            "x\n".repeat(500)
        );
        let excerpt = conflict_excerpt(&long, 200);
        assert!(excerpt.len() < 260, "{excerpt}");
        assert!(
            excerpt.ends_with("(cut here: read the file for the rest)\n"),
            "{excerpt}"
        );
        assert!(conflict_excerpt("fn main() {}\n", 200).contains("deleted it"));
    }

    #[test]
    fn only_opening_and_closing_markers_count_as_left_behind() {
        assert!(is_marker("<<<<<<< main (1)"));
        assert!(is_marker(">>>>>>> branch (2)"));
        assert!(!is_marker("======="), "a setext heading's underline");
        assert!(!is_marker("<<<<<<<<< not a marker"));
    }
}
