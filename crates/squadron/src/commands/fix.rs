//! `squadron fix <ENG-123 | Linear issue URL>`: one bug fix in the foreground — diagnosis,
//! implementation with a regression test, both reviews, merge — with live progress, ending
//! with a summary. Exit 0 when the fix merged, 1 otherwise.

use std::process::ExitCode;

use squadron_core::Phase;
use squadron_linear::parse_issue_ref;
use squadron_pipeline::{FixRequest, SquadView};

use crate::cli::{FixArgs, GlobalArgs};
use crate::commands::run::follow_to_end;
use crate::context::Context;
use crate::error::CliError;
use crate::format::elapsed;
use crate::progress::{Look, summary_table, wrap};

/// Who a fix started from the command line is recorded as having been asked by.
const REQUESTED_BY: &str = "cli";

/// Runs `squadron fix`.
pub async fn run(global: &GlobalArgs, args: &FixArgs) -> Result<ExitCode, CliError> {
    // Bad input is refused before anything is opened or contacted.
    let issue = parse_issue_ref(&args.issue)
        .map_err(|error| CliError::user(format!("failed to {error}")))?;
    let context = Context::load(global)?;
    let look = Look::of_stdout();
    let squad = fix_to_end(&context, look, &issue.identifier).await?;
    crate::output::println(&summary_table(std::slice::from_ref(&squad), look.width()).to_string())?;
    let (code, line) = match &squad.phase {
        Phase::Merged => {
            let after = squad
                .time_to_merge
                .map(|took| format!(" {} after it was triggered", elapsed(took)))
                .unwrap_or_default();
            (
                ExitCode::SUCCESS,
                format!("{} fixed: merged{after}", squad.issue),
            )
        }
        phase => (
            ExitCode::FAILURE,
            format!("{} not fixed: {phase}", squad.issue),
        ),
    };
    crate::output::println(&wrap(&line, look.width(), 2))?;
    Ok(code)
}

/// Starts (or resumes) the fix of `issue` on the real adapters, shows live progress until
/// its squad has ended, and returns it. Ctrl-C stops the runtime gracefully: the store keeps
/// every step, and fixing the same issue again resumes.
async fn fix_to_end(context: &Context, look: Look, issue: &str) -> Result<SquadView, CliError> {
    let request = FixRequest {
        issue: issue.to_owned(),
        requested_by: REQUESTED_BY.to_owned(),
        slack: None,
    };
    let interrupted = format!(
        "interrupted: the fix's progress is recorded; run `squadron fix {issue}` again to resume"
    );
    let followed = follow_to_end(context, look, &interrupted, |handle| async move {
        handle.start_fix(request).await
    })
    .await?;
    followed
        .squads
        .into_iter()
        .next()
        .ok_or_else(|| CliError::internal(format!("the fix of {issue} finished without a squad")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use crate::logging::LogFormat;

    #[tokio::test]
    async fn input_that_names_no_issue_is_a_user_error_listing_the_accepted_shapes() {
        // A config file that does not exist proves nothing was loaded before the refusal.
        let global = GlobalArgs {
            config: Some("/nonexistent/squadron.toml".into()),
            database_url: None,
            log_format: LogFormat::Auto,
            log: None,
        };
        for input in [
            "checkout",
            "https://linear.app/acme/project/checkout-a5e6ddb5d475",
        ] {
            let args = FixArgs {
                issue: input.to_owned(),
            };
            let error = run(&global, &args).await.unwrap_err();
            assert_eq!(error.class(), ErrorClass::User, "{error}");
            let message = error.to_string();
            assert!(
                message.contains(input) && message.contains("ENG-123"),
                "{message}"
            );
        }
    }
}
