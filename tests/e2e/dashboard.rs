//! The dashboard as a person sees it in a browser: headless Chromium opens the page of a
//! daemon, starts a generated milestone from the page's own form, watches its squads move
//! between phases without a reload, follows a PR link's target and opens a squad's page
//! with its reviews and transcript. Screenshots of each step are written under the target
//! directory (`tmp/dashboard-screenshots/`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use squadron::demo::DemoLimits;

use crate::browser::Browser;
use crate::support::Rig;
use squadron::demo::generated::{Behaviour, milestone, milestone_of};

fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots")
}

/// Every squad row as the page shows it: issue → (phase, the row's text, PR link).
const ROWS: &str = r#"
return [...document.querySelectorAll("tr[data-squad]")].map((row) => {
  const link = row.querySelector("td:nth-child(5) a");
  return [row.cells[0].innerText, row.dataset.phase, row.innerText, link ? link.href : null];
});"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_starts_a_milestone_watches_it_live_and_reads_a_squads_reviews_and_transcript() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rig = Rig::start(milestone(2, Behaviour::Approve), DemoLimits::default()).await;
    let (_daemon, address) = rig.serve(&[]);
    let browser = Browser::start().await;
    let dir = artifacts();

    browser.open(&format!("http://{address}/")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = browser.visible_text().await;
        if text.contains("No runs yet") && text.contains("github ok") {
            assert!(
                !text.contains("not ready"),
                "every service answers:\n{text}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the empty dashboard with its health never showed:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // How close GitHub and the model provider are to their rate limits, as the adapters see
    // them; and the place kept for flow metrics, which says they are not measured yet.
    let chips = browser
        .script(r#"return [...document.querySelectorAll("[data-rate-limit]")].map((chip) => chip.innerText);"#)
        .await;
    let chips: Vec<&str> = chips
        .as_array()
        .map(|chips| chips.iter().filter_map(|chip| chip.as_str()).collect())
        .unwrap_or_default();
    assert!(
        chips
            .iter()
            .any(|chip| chip.starts_with("github ") && chip.ends_with("/5000")),
        "GitHub's request budget as its last answer stated it: {chips:?}"
    );
    assert!(
        chips
            .iter()
            .any(|chip| chip.starts_with("model ") && chip.ends_with("/8")),
        "the model provider's calls in flight: {chips:?}"
    );
    let text = browser.visible_text().await;
    assert!(
        text.contains("Flow metrics (lead time, throughput, flow efficiency) are not measured yet"),
        "{text}"
    );
    browser.screenshot(&dir, "1-empty").await;

    // Start the run the way a person does: paste the URL, press the button.
    browser.type_into("#url", rig.world.project_url()).await;
    browser.click("form.start button").await;

    // Watch without reloading: the event stream moves the rows along.
    let mut phases: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut shot_mid_run = false;
    let rows = loop {
        let rows = browser.script(ROWS).await;
        let rows = rows.as_array().cloned().unwrap_or_default();
        for row in &rows {
            if let (Some(issue), Some(phase)) = (row[0].as_str(), row[1].as_str()) {
                phases
                    .entry(issue.to_owned())
                    .or_default()
                    .insert(phase.to_owned());
            }
        }
        if !shot_mid_run
            && rows
                .iter()
                .any(|row| row[1] != "queued" && row[1] != "merged")
        {
            browser.screenshot(&dir, "2-running").await;
            shot_mid_run = true;
        }
        if rows.len() == 2 && rows.iter().all(|row| row[1] == "merged") {
            break rows;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the squads did not all show merged within 120 s; seen: {phases:?}\n{}",
            browser.visible_text().await
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    };
    for (issue, seen) in &phases {
        assert!(
            seen.len() >= 3,
            "{issue} was seen moving through its phases on the open page, not only at the \
             end: {seen:?}"
        );
    }
    let text = browser.visible_text().await;
    assert!(
        text.contains("2 squads: 2 merged"),
        "the run's totals:\n{text}"
    );
    assert!(
        text.contains(rig.world.project_url()),
        "the run's milestone:\n{text}"
    );
    for row in &rows {
        let shown = row[2].as_str().unwrap_or_default();
        assert!(shown.contains("merged") && shown.contains('$'), "{shown}");
        let href = row[3].as_str().unwrap_or_default();
        assert!(
            href.contains("/acme/ledger/pull/"),
            "each squad links its PR: {row}"
        );
    }
    browser.screenshot(&dir, "3-merged").await;

    // Into one squad: its reviews with verdicts and head commits, and its transcript.
    browser.click("tr[data-squad] td:last-child a").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !browser.visible_text().await.contains("Transcript") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the squad page never showed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reviews = browser
        .script(r#"return [...document.querySelectorAll("tr[data-review]")].map((row) => row.innerText);"#)
        .await;
    let reviews: Vec<String> = reviews
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|row| row.as_str().map(str::to_owned))
        .collect();
    assert!(
        reviews
            .iter()
            .any(|row| row.contains("code-reviewer") && row.contains("approved"))
            && reviews
                .iter()
                .any(|row| row.contains("qa-specialist") && row.contains("approved")),
        "both reviewers' verdicts: {reviews:?}"
    );
    assert!(
        reviews.iter().all(|row| row
            .split_whitespace()
            .any(|word| word.len() == 12 && word.chars().all(|c| c.is_ascii_hexdigit()))),
        "each review names the head commit it approved: {reviews:?}"
    );
    let page = browser.visible_text().await;
    assert!(
        page.contains("Timeline") && page.contains("phase-changed"),
        "{page}"
    );
    assert!(
        page.contains(" of $10.0000 budget"),
        "the squad's spending against its budget, in the one money format:\n{page}"
    );
    let gate = browser
        .script(r#"return [...document.querySelectorAll("tr[data-gate]")].map((row) => row.innerText);"#)
        .await;
    assert!(
        gate.as_array().is_some_and(|rows| rows
            .last()
            .and_then(|row| row.as_str())
            .is_some_and(|row| row.contains("merge") && row.contains("nothing holds it back"))),
        "the gate's decision to merge, and why: {gate}\n{page}"
    );
    let tabs = browser
        .script(r#"return [...document.querySelectorAll("[data-role]")].map((tab) => tab.dataset.role);"#)
        .await;
    let tabs: Vec<&str> = tabs
        .as_array()
        .map(|tabs| tabs.iter().filter_map(|tab| tab.as_str()).collect())
        .unwrap_or_default();
    assert!(
        tabs.contains(&"developer") && tabs.contains(&"code-reviewer"),
        "a transcript tab per role: {tabs:?}"
    );
    let transcript = browser
        .script(r#"return document.getElementById("transcript").innerText;"#)
        .await;
    assert!(
        transcript
            .as_str()
            .is_some_and(|text| text.contains("assistant")),
        "the developer's messages show: {transcript}"
    );
    let shot = browser.screenshot(&dir, "4-squad").await;
    println!(
        "screenshots in {}",
        shot.parent()
            .map(|dir| dir.display().to_string())
            .unwrap_or_default()
    );
}

/// The row of `issue` as the page shows it: (at-work cell, note cell).
const ROW_OF: &str = r#"
const row = [...document.querySelectorAll("tr[data-squad]")].find((row) => row.cells[0].innerText === arguments[0]);
return row ? [row.cells[2].innerText, row.querySelector("td.note").innerText] : null;"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_sees_which_agent_is_at_work_and_what_a_waiting_squad_waits_for() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // One squad at a time, and the first one's Developer stuck in a model call for a
    // minute: the second waits for the slot the whole time the page is looked at.
    let limits = DemoLimits {
        concurrency: 1,
        ..DemoLimits::default()
    };
    let rig = Rig::start(
        milestone_of(&[Behaviour::Stalled, Behaviour::Approve]),
        limits,
    )
    .await;
    let (_daemon, address) = rig.serve(&[]);
    let browser = Browser::start().await;
    let dir = artifacts();

    browser.open(&format!("http://{address}/")).await;
    browser.wait_for("#url").await;
    browser.type_into("#url", rig.world.project_url()).await;
    browser.click("form.start button").await;
    let row = |issue: &'static str| {
        let browser = &browser;
        async move {
            let found = browser
                .script(&ROW_OF.replace("arguments[0]", &format!("{issue:?}")))
                .await;
            (
                found[0].as_str().unwrap_or_default().to_owned(),
                found[1].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (working, _) = row("ENG-1").await;
        let (_, waiting) = row("ENG-2").await;
        if working == "developer" && waiting == "waits for a free slot" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ENG-1's Developer at work and ENG-2 waiting for a slot never showed: \
             ENG-1 {working:?}, ENG-2 {waiting:?}\n{}",
            browser.visible_text().await
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    browser.screenshot(&dir, "5-at-work-and-waiting").await;

    // Nothing changes while the Developer waits for its model, yet its time keeps counting
    // on the open page.
    let time = r#"return [...document.querySelectorAll("tr[data-squad]")].find((row) => row.cells[0].innerText === "ENG-1").cells[5].innerText;"#;
    let before = browser.script(time).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = browser.script(time).await;
    assert_ne!(
        before, after,
        "ENG-1's time keeps counting: {before} then {after}"
    );
}
