//! `squadron demo --standins`: the demo's world as long-running loopback services, for
//! `squadron serve` and `squadron run` processes to work against without any account. It
//! starts the stand-ins (Linear, GitHub with its bare repositories, the scripted model,
//! Slack) seeded with a scenario or a generated milestone, writes a configuration file
//! pointing at them, prints that file and the environment to use it as a shell script on
//! standard output, and serves until SIGINT or SIGTERM. With `--keep DIR` it then writes
//! what GitHub saw (every PR, review and merge) to `DIR/standins.json`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use squadron::demo::generated::{self, Behaviour};
use squadron::demo::{DemoLimits, DemoWorld, SAMPLE_REPO, STANDIN_PORTS, Scenario, WorldSeed};

use crate::cli::DemoArgs;
use crate::commands::demo::{check_requirements, say, state_dir};
use crate::commands::serve::shutdown_signal;
use crate::error::{CliError, error_chain};

/// What the stand-ins serve: a built-in scenario or a generated milestone.
#[derive(Clone, Copy, Debug)]
enum Seeded {
    Scenario(Scenario),
    Generated(u32),
}

/// Runs `squadron demo --standins`.
///
/// # Errors
/// A user error for an unknown scenario, an address that is not loopback or a port range
/// past the last port, an address in use, or an unusable `--keep` directory.
pub async fn run(args: &DemoArgs) -> Result<ExitCode, CliError> {
    let seeded = match args.issues {
        Some(count) => Seeded::Generated(count),
        None => Seeded::Scenario(args.scenario.parse().map_err(|error| {
            CliError::user(error_chain(&error)).with_hint(
                "run `squadron demo --standins --scenario milestone` or `--scenario bugfix`, \
                 or `--issues N` for a generated milestone",
            )
        })?),
    };
    let first = standins_address(args.listen)?;
    check_requirements()?;
    let (dir, _scratch) = state_dir(args.keep.as_deref())?;

    let (seed, limits) = match seeded {
        Seeded::Scenario(scenario) => (
            WorldSeed::of_scenario(scenario).map_err(|error| internal(&error))?,
            DemoLimits::default(),
        ),
        Seeded::Generated(count) => (
            generated::milestone(count, Behaviour::Approve),
            DemoLimits {
                review_rounds: Some(generated::MAX_ROUNDS),
                ..DemoLimits::default()
            },
        ),
    };
    let world = DemoWorld::start_seeded_on(seed, first)
        .await
        .map_err(|error| {
            CliError::user(format!("failed to {}", error_chain(&error))).with_hint(
                "pick five free consecutive loopback ports with --listen, e.g. \
                 127.0.0.1:7400, or leave it out for any free ports",
            )
        })?;
    let config_file = dir.join("squadron.toml");
    let config = world.config_toml(&dir.join("squadron.db"), limits);
    std::fs::write(&config_file, config).map_err(|error| {
        CliError::user(format!(
            "failed to write the stand-ins' configuration `{}`: {error}",
            config_file.display()
        ))
    })?;

    say(&describe(&world, seeded, &dir, args.keep.is_some()));
    crate::output::print(&environment(&world, seeded, &config_file))?;

    let signal = shutdown_signal().await;
    let pulls = world.github.pulls(SAMPLE_REPO).unwrap_or_default();
    let merged = pulls.iter().filter(|pull| pull.merged).count();
    say(&format!(
        "{signal}: the stand-ins stopped; GitHub saw {} pull requests, {merged} merged",
        pulls.len()
    ));
    if args.keep.is_some() {
        let record = dir.join("standins.json");
        std::fs::write(&record, github_record(&world).to_string()).map_err(|error| {
            CliError::user(format!("failed to write `{}`: {error}", record.display()))
        })?;
        say(&format!("what GitHub saw: {}", record.display()));
    }
    Ok(ExitCode::SUCCESS)
}

/// The address of the first stand-in: `--listen`, which must be loopback (the stand-ins
/// accept the demo's published tokens) with room for every stand-in's port after it, or any
/// free loopback ports.
fn standins_address(listen: Option<SocketAddr>) -> Result<SocketAddr, CliError> {
    let Some(first) = listen else {
        return Ok(SocketAddr::from(([127, 0, 0, 1], 0)));
    };
    if !first.ip().is_loopback() {
        return Err(CliError::user(format!(
            "`--listen {first}`: the stand-ins only listen on loopback, since anyone who \
             reaches them is let in with the demo's published tokens"
        ))
        .with_hint("use a loopback address such as 127.0.0.1:7400"));
    }
    if first.port() != 0 && first.port().checked_add(STANDIN_PORTS - 1).is_none() {
        return Err(CliError::user(format!(
            "`--listen {first}`: the stand-ins take {STANDIN_PORTS} consecutive ports from \
             {}, past the last port",
            first.port()
        ))
        .with_hint("pick a lower port, e.g. 127.0.0.1:7400"));
    }
    Ok(first)
}

/// What a person reads on stderr: where each stand-in listens, what it serves, and how to
/// point Squadron at it.
fn describe(world: &DemoWorld, seeded: Seeded, dir: &Path, kept: bool) -> String {
    let serves = match seeded {
        Seeded::Scenario(scenario) => {
            format!("scenario `{scenario}`: {}", scenario.description())
        }
        Seeded::Generated(count) => format!(
            "a generated milestone of {count} independent issues (ENG-1 to ENG-{count}), each \
             approved by both reviewers in its first round"
        ),
    };
    let mut text = format!("the stand-ins serve {serves}\n");
    let _ = writeln!(text, "  Linear  {}", world.linear.endpoint());
    let _ = writeln!(
        text,
        "  GitHub  {} ({SAMPLE_REPO}, git at {})",
        world.github.base_url(),
        world.github.clone_url(SAMPLE_REPO)
    );
    let _ = writeln!(text, "  model   {}", world.model.base_url());
    let _ = writeln!(text, "  Slack   {}", world.slack.api_url());
    let state = if kept {
        format!("state in {} (kept)", dir.display())
    } else {
        format!(
            "state in {} (removed on exit; --keep DIR keeps it)",
            dir.display()
        )
    };
    let _ = writeln!(text, "{state}");
    text.push_str(
        "standard output is a shell script with the configuration and secrets: source it in \
         the shell that runs `squadron serve` or `squadron run`; Ctrl-C stops the stand-ins",
    );
    text
}

/// The shell script on stdout: the environment `squadron serve`/`run` need to use the
/// stand-ins, and as comments what to run.
fn environment(world: &DemoWorld, seeded: Seeded, config_file: &Path) -> String {
    let mut script = String::from("# squadron demo --standins: source this, then run\n");
    match seeded {
        Seeded::Scenario(scenario) => match scenario.fix_issue() {
            Some(issue) => {
                let _ = writeln!(script, "#   squadron fix {issue}");
            }
            None => {
                let _ = writeln!(script, "#   squadron run {}", world.project_url());
            }
        },
        Seeded::Generated(_) => {
            let _ = writeln!(script, "#   squadron run {}", world.project_url());
        }
    }
    script.push_str(
        "# or `squadron serve` and POST the project URL to /api/runs. Set DATABASE_URL to\n\
         # share a PostgreSQL store; the configuration names a SQLite file otherwise.\n",
    );
    let _ = writeln!(
        script,
        "export SQUADRON_CONFIG={}",
        shell_quote(&config_file.display().to_string())
    );
    for (name, value) in world.secrets_env() {
        let _ = writeln!(script, "export {name}={}", shell_quote(&value));
    }
    // The last line, so whoever reads the script as it is written knows it is complete.
    script.push_str("# the stand-ins are up until this process is interrupted\n");
    script
}

/// `text` in single quotes for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Every pull request of the sample repository with its reviews, and every merge, as the
/// GitHub stand-in recorded them.
fn github_record(world: &DemoWorld) -> serde_json::Value {
    let github = &world.github;
    let pulls: Vec<serde_json::Value> = github
        .pulls(SAMPLE_REPO)
        .unwrap_or_default()
        .into_iter()
        .map(|pull| {
            let reviews: Vec<serde_json::Value> = github
                .reviews(SAMPLE_REPO, pull.number)
                .unwrap_or_default()
                .into_iter()
                .map(|review| {
                    serde_json::json!({
                        "user": review.user,
                        "state": review.state,
                        "commit_id": review.commit_id,
                    })
                })
                .collect();
            serde_json::json!({
                "number": pull.number,
                "title": pull.title,
                "author": pull.author,
                "head_ref": pull.head_ref,
                "head_sha": pull.head_sha,
                "base_ref": pull.base_ref,
                "open": pull.open,
                "merged": pull.merged,
                "reviews": reviews,
            })
        })
        .collect();
    let merges: Vec<serde_json::Value> = github
        .merges(SAMPLE_REPO)
        .unwrap_or_default()
        .into_iter()
        .map(|merge| {
            serde_json::json!({
                "number": merge.number,
                "sha": merge.sha,
                "head_sha": merge.head_sha,
                "base_ref": merge.base_ref,
                "merged_by": merge.merged_by,
            })
        })
        .collect();
    serde_json::json!({ "repository": SAMPLE_REPO, "pulls": pulls, "merges": merges })
}

/// An unexpected failure of the stand-ins' own plumbing.
fn internal(error: &(dyn std::error::Error + 'static)) -> CliError {
    CliError::internal(format!("failed to {}", error_chain(error)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stand_ins_listen_on_loopback_only_with_room_for_every_port() {
        assert_eq!(standins_address(None).expect("any free port").port(), 0);
        let wide = standins_address(Some("0.0.0.0:7400".parse().expect("an address")))
            .expect_err("not loopback");
        assert!(
            wide.to_string().contains("only listen on loopback"),
            "{wide}"
        );
        let high = standins_address(Some("127.0.0.1:65533".parse().expect("an address")))
            .expect_err("past the last port");
        assert!(high.to_string().contains("past the last port"), "{high}");
        assert!(standins_address(Some("127.0.0.1:65531".parse().expect("an address"))).is_ok());
        assert!(standins_address(Some("[::1]:7400".parse().expect("an address"))).is_ok());
    }

    #[test]
    fn shell_quoting_survives_quotes_and_spaces() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
