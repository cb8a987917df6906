//! The Developer's requests for test changes: the `request_test_change` tool and the squad's
//! shared list of requests the pipeline hands to QA after the Developer's turn.
//!
//! The Developer may not edit a test QA wrote; when a test looks wrong it asks through this
//! tool instead, and QA judges the request.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Deserialize;

use crate::registry::ToolContext;
use crate::terminal::parse;

/// One request from the Developer to change a test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestChangeRequest {
    /// The test file, worktree-relative and `/`-separated.
    pub path: String,
    /// What the Developer says is wrong and what the test should assert instead.
    pub reason: String,
}

/// The squad's pending test-change requests, shared by every agent of the squad.
///
/// Cloning shares the same list.
#[derive(Clone, Debug, Default)]
pub struct TestChangeRequests {
    requests: Arc<Mutex<Vec<TestChangeRequest>>>,
}

impl TestChangeRequests {
    /// Records `request`; the same path and reason twice is kept once.
    pub fn push(&self, request: TestChangeRequest) {
        let mut requests = self.lock();
        if !requests.contains(&request) {
            requests.push(request);
        }
    }

    /// The pending requests, oldest first.
    pub fn pending(&self) -> Vec<TestChangeRequest> {
        self.lock().clone()
    }

    /// Removes and returns the pending requests, oldest first.
    pub fn take(&self) -> Vec<TestChangeRequest> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Vec<TestChangeRequest>> {
        // The list stays consistent even if a holder panicked: every change is one call.
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestArgs {
    path: String,
    reason: String,
}

/// Records the Developer's request to change the test at `path`, which must be a test file
/// inside the worktree.
pub(crate) fn request_test_change(
    context: &ToolContext<'_>,
    arguments: &str,
) -> Result<String, String> {
    let args: RequestArgs = parse(arguments)?;
    let reason = args.reason.trim();
    if reason.is_empty() {
        return Err(
            "`reason` is empty: say what is wrong with the test and what it should assert instead"
                .to_owned(),
        );
    }
    let workspace = context.workspace;
    let path = workspace
        .worktree
        .resolve(&args.path)
        .map_err(|refusal| format!("failed to {refusal}"))?;
    let test_globs = &workspace.policy.test_globs;
    if !test_globs.matches(path.relative()) {
        return Err(format!(
            "`{}` is not a test file (tests match {}): QA changes only tests, so change it yourself",
            path.relative(),
            test_globs.patterns().join(", ")
        ));
    }
    workspace.test_change_requests.push(TestChangeRequest {
        path: path.relative().to_owned(),
        reason: reason.to_owned(),
    });
    Ok(format!(
        "Recorded your request to change `{}`. QA will be asked after your turn and changes the test only if it agrees; carry on with your own work and do not edit the test.",
        path.relative()
    ))
}
