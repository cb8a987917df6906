//! Single-identity mode: when the three GitHub tokens are one account, reviews are comments
//! with the verdict as a commit status, and they still reach the Developer.

use squadron::demo::generated::{Behaviour, milestone};
use squadron::demo::{DemoLimits, IDENTITIES, SAMPLE_REPO};

use crate::support::{Rig, describe};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_one_identity_the_code_reviewers_comment_is_fixed_and_the_pr_merges() {
    let rig = Rig::start(milestone(1, Behaviour::ChangesOnce), DemoLimits::default()).await;
    let developer = IDENTITIES[0].token;
    let one_account = [
        (IDENTITIES[1].token_env, developer),
        (IDENTITIES[2].token_env, developer),
    ];

    let output = rig.run(&one_account).await;

    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let pulls = rig.pulls();
    assert_eq!(pulls.len(), 1);
    assert!(pulls[0].merged, "the PR merged: {:?}", pulls[0]);
    let reviews = rig
        .world
        .github
        .reviews(SAMPLE_REPO, pulls[0].number)
        .expect("reviews");
    assert!(
        reviews
            .iter()
            .all(|review| review.state == "COMMENTED" && review.user == IDENTITIES[0].login),
        "one account can only comment on its own PR: {reviews:?}"
    );
    let asked = reviews
        .iter()
        .find(|review| {
            review
                .body
                .contains("code-reviewer verdict: changes requested")
        })
        .expect("the Code Reviewer asked for changes");
    assert_eq!(asked.comments.len(), 1, "{asked:?}");
    // The Developer's fix is scripted to play only when its task quotes that comment, so the
    // revision on main shows the comment reached it.
    let merged = rig
        .world
        .github
        .file_at(SAMPLE_REPO, "main", "ledger/rate_1.py")
        .expect("main resolves")
        .expect("the module is on main");
    assert!(merged.contains("Revised after review round 1."), "{merged}");
    assert_ne!(
        asked.commit_id, pulls[0].head_sha,
        "the merged head is the fixed one"
    );
}
