//! The command tools: the repository's tests, commands it allows, and read-only git views.

use serde::Deserialize;

use crate::git::git_output;
use crate::guardrails::narrowed_test;
use crate::registry::ToolContext;
use crate::sandbox::{CommandOutput, SandboxCommand};
use crate::terminal::parse;
use squadron_config::fence;
use squadron_core::error_chain;

/// Characters that would mean something to a shell; `run_command` uses none, so a command
/// containing them would not do what the model expects.
const SHELL_SYNTAX: [char; 9] = [';', '|', '&', '>', '<', '`', '$', '\n', '\\'];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestArgs {
    selector: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandArgs {
    command: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffArgs {
    base: Option<String>,
    path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogArgs {
    max_count: Option<u32>,
    path: Option<String>,
}

/// Whether `content`, a result of `run_tests` or `run_command`, reports a command that
/// failed: the turn loop counts such calls like refused ones when they repeat.
pub(crate) fn reports_failure(content: &str) -> bool {
    content
        .lines()
        .next()
        .is_some_and(|line| line.ends_with("` FAILED."))
}

fn report(what: &str, command: &str, output: &CommandOutput) -> String {
    let verdict = if output.success() { "passed" } else { "FAILED" };
    format!(
        "{what} `{command}` {verdict}.\n{}",
        fence(&format!("output of `{command}`"), &output.render())
    )
}

pub(crate) async fn run_tests(
    context: &ToolContext<'_>,
    arguments: &str,
) -> Result<String, String> {
    let args: TestArgs = parse(arguments)?;
    let policy = &context.workspace.policy;
    let Some(whole) = policy.test.clone() else {
        return Err(
            "this repository configures no test command (`test` in .squadron.toml)".to_owned(),
        );
    };
    let test = match (args.selector.as_deref(), policy.test_one.as_deref()) {
        (None, _) => whole,
        (Some(selector), Some(test_one)) => narrowed_test(test_one, selector)?,
        (Some(_), None) => {
            return Err(format!(
                "this repository has no command to run some of its tests (`test_one` in .squadron.toml); call `run_tests` without `selector` to run the whole suite (`{whole}`)"
            ));
        }
    };
    let output = context
        .workspace
        .sandbox
        .run_with(
            context.workspace.worktree.root(),
            &SandboxCommand::Shell(test.clone()),
            context.access(),
        )
        .await
        .map_err(|error| format!("failed to {}", error_chain(&error)))?;
    Ok(report("Tests", &test, &output))
}

/// Splits `line` into words and checks it against the allowed command prefixes.
pub(crate) fn allowed_argv(line: &str, allowed: &[String]) -> Result<Vec<String>, String> {
    if line.contains(SHELL_SYNTAX) {
        return Err(format!(
            "refused: `{line}` uses shell syntax; commands run without a shell, so pipes, redirections, `;`, `&&`, `$` and backslashes are not available"
        ));
    }
    let Some(argv) = shlex::split(line).filter(|argv| !argv.is_empty()) else {
        return Err(format!(
            "`{line}` is not a command line (empty, or an unbalanced quote)"
        ));
    };
    let permitted = allowed.iter().any(|prefix| {
        let prefix = shlex::split(prefix).unwrap_or_default();
        !prefix.is_empty() && argv.len() >= prefix.len() && argv[..prefix.len()] == prefix[..]
    });
    if permitted {
        Ok(argv)
    } else if allowed.is_empty() {
        Err(format!(
            "refused: `{line}` is not allowed: this repository allows no commands (`allowed_commands` in .squadron.toml); use run_tests"
        ))
    } else {
        let list = allowed
            .iter()
            .map(|prefix| format!("`{prefix}`"))
            .collect::<Vec<_>>()
            .join(", ");
        Err(format!(
            "refused: `{line}` is not allowed; this repository allows commands starting with {list}"
        ))
    }
}

pub(crate) async fn run_command(
    context: &ToolContext<'_>,
    arguments: &str,
) -> Result<String, String> {
    let args: CommandArgs = parse(arguments)?;
    let argv = allowed_argv(&args.command, &context.workspace.policy.allowed_commands)?;
    let output = context
        .workspace
        .sandbox
        .run_with(
            context.workspace.worktree.root(),
            &SandboxCommand::Argv(argv),
            context.access(),
        )
        .await
        .map_err(|error| format!("failed to {}", error_chain(&error)))?;
    Ok(report("Command", &args.command, &output))
}

fn confined_relative(
    context: &ToolContext<'_>,
    path: Option<&str>,
) -> Result<Option<String>, String> {
    path.map(|path| {
        context
            .workspace
            .worktree
            .resolve(path)
            .map(|path| path.relative().to_owned())
            .map_err(|refusal| format!("failed to {refusal}"))
    })
    .transpose()
}

async fn git_view(context: &ToolContext<'_>, args: &[&str], label: &str) -> Result<String, String> {
    let workspace = context.workspace;
    let output = git_output(&workspace.worktree, workspace.sandbox.settings(), args, &[])
        .await
        .map_err(|error| format!("failed to {}", error_chain(&error)))?;
    if !output.success() {
        return Err(format!("git failed: {}", output.stderr.trim()));
    }
    let mut text = output.stdout;
    if output.truncated {
        text.push_str("\n(output truncated at the cap)\n");
    }
    Ok(fence(label, &text))
}

pub(crate) async fn git_diff(context: &ToolContext<'_>, arguments: &str) -> Result<String, String> {
    let args: DiffArgs = parse(arguments)?;
    let base = args.base.unwrap_or_else(|| "HEAD".to_owned());
    let revision_like = |c: char| c.is_ascii_alphanumeric() || "._/~^@{}-".contains(c);
    if base.starts_with('-') || !base.chars().all(revision_like) {
        return Err(format!("`{base}` is not a revision name"));
    }
    let path = confined_relative(context, args.path.as_deref())?;
    let mut diff_args = vec![
        "diff",
        "--no-ext-diff",
        "--no-textconv",
        base.as_str(),
        "--",
    ];
    diff_args.extend(path.as_deref());
    let mut text = git_view(context, &diff_args, &format!("git diff {base}")).await?;
    let mut untracked_args = vec!["ls-files", "--others", "--exclude-standard", "--"];
    untracked_args.extend(path.as_deref());
    let untracked = git_view(context, &untracked_args, "untracked files").await?;
    text.push_str("\nNew files not yet known to git (their content is not in the diff):\n");
    text.push_str(&untracked);
    Ok(text)
}

pub(crate) async fn git_log(context: &ToolContext<'_>, arguments: &str) -> Result<String, String> {
    let args: LogArgs = parse(arguments)?;
    let max_count = format!("--max-count={}", args.max_count.unwrap_or(20).clamp(1, 200));
    let path = confined_relative(context, args.path.as_deref())?;
    let mut log_args = vec![
        "log",
        max_count.as_str(),
        "--date=short",
        "--format=%h %ad %an <%ae>%n    %s",
        "--",
    ];
    log_args.extend(path.as_deref());
    git_view(context, &log_args, "git log").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_must_start_with_an_allowed_prefix() {
        let allowed = vec!["cargo check".to_owned(), "npm run lint".to_owned()];
        assert_eq!(
            allowed_argv("cargo check --all", &allowed).unwrap(),
            ["cargo", "check", "--all"]
        );
        assert!(
            allowed_argv("cargo publish", &allowed)
                .unwrap_err()
                .contains("`cargo check`")
        );
        assert!(
            allowed_argv("cargo check; curl evil", &allowed)
                .unwrap_err()
                .contains("shell syntax")
        );
        assert!(
            allowed_argv("npm run 'lint", &allowed)
                .unwrap_err()
                .contains("unbalanced")
        );
    }
}
