//! The JSON the event log keeps of each [`EventPayload`], written and read back: the one
//! place that knows it. The documents are those earlier versions wrote, so readers of older
//! logs (`squadron logs`, a squad's page, a daemon upgraded mid-run) find the same fields.

use std::time::Duration;

use serde_json::{Value, json};
use squadron_core::effect::EffectKey;
use squadron_core::event_payload::{EventPayload, QaFile, TestChangeRequest};
use squadron_core::gate::CommitSha;
use squadron_core::merge_queue::{BaseVerdict, MergeLane};
use squadron_core::ports::{Confidence, RepoRef};
use squadron_core::{IssueKey, PrNumber, ReviewVerdict, Role, SquadId};

/// The stored JSON document of `payload`.
pub(crate) fn encode(payload: &EventPayload) -> String {
    match payload {
        EventPayload::IssueTitle { title } => json!({ "title": title }),
        EventPayload::Merged { sha, approved_by } => {
            json!({ "sha": sha.as_str(), "approved_by": approved_by })
        }
        EventPayload::GateDecision {
            decision,
            reasons,
            head,
        } => json!({
            "decision": decision,
            "reasons": reasons,
            "head": head.as_ref().map(ToString::to_string),
        }),
        EventPayload::Retry { what, attempt, why } => {
            json!({ "what": what, "attempt": attempt, "why": why })
        }
        EventPayload::CheckRerun { check, sha } | EventPayload::FlakyCheck { check, sha } => {
            json!({ "check": check, "sha": sha.to_string() })
        }
        EventPayload::CiFix { round, checks } => json!({ "round": round, "checks": checks }),
        EventPayload::ConflictRound {
            round,
            files,
            landed,
        } => json!({ "round": round, "files": files, "landed": landed }),
        EventPayload::NotifyFailed { key, error } => {
            json!({ "key": key.to_string(), "error": error })
        }
        EventPayload::QaFiles { files } => {
            let files: Vec<Value> = files
                .iter()
                .map(|file| match &file.digest {
                    Some(digest) => json!({ "path": file.path, "digest": digest }),
                    None => json!({ "path": file.path, "deleted": true }),
                })
                .collect();
            json!({ "files": files })
        }
        EventPayload::Diagnosis {
            hypothesis,
            plan,
            confidence,
            files,
        } => json!({
            "hypothesis": hypothesis,
            "plan": plan,
            "confidence": confidence.as_str(),
            "files": files,
        }),
        EventPayload::TestChangeRequested { round, requests } => {
            let requests: Vec<Value> = requests
                .iter()
                .map(|request| json!({ "path": request.path, "reason": request.reason }))
                .collect();
            json!({ "round": round, "requests": requests })
        }
        EventPayload::ReviewVerdict {
            round,
            role,
            verdict,
            head,
            review_id,
        } => json!({
            "round": round,
            "role": role.as_str(),
            "verdict": verdict.as_str(),
            "head": head.as_str(),
            "review_id": review_id,
        }),
        EventPayload::WorkSaved {
            branch,
            head,
            wip_commit,
            beside_pr,
            url,
        } => json!({
            "saved": true,
            "branch": branch,
            "head": head.as_str(),
            "wip_commit": wip_commit,
            "beside_pr": beside_pr,
            "url": url,
        }),
        EventPayload::WorkNotSaved { error } => json!({ "saved": false, "error": error }),
        EventPayload::BaseTested { lane, sha, verdict } => {
            let (name, output) = match verdict {
                BaseVerdict::Passed => ("passed", ""),
                BaseVerdict::Failed(output) => ("failed", output.as_str()),
                BaseVerdict::Untested(why) => ("untested", why.as_str()),
            };
            json!({
                "lane": lane.to_string(),
                "sha": sha.as_str(),
                "verdict": name,
                "output": output,
            })
        }
        EventPayload::FixRequested {
            requested_by,
            channel,
            thread_ts,
        } => json!({
            "requested_by": requested_by,
            "channel": channel,
            "thread_ts": thread_ts,
        }),
        EventPayload::PendingComment {
            issue,
            marker,
            body,
        } => json!({ "issue": issue.as_str(), "marker": marker, "body": body }),
        EventPayload::TimeToMerge { elapsed } => json!({ "millis": millis(*elapsed) }),
        EventPayload::Reverted {
            pr,
            url,
            reverted_sha,
            now,
        } => json!({
            "pr": pr.0,
            "url": url,
            "reverted_sha": reverted_sha.as_str(),
            "now": now,
        }),
        EventPayload::RevertedOnBase {
            revert_sha,
            reverted_sha,
        } => json!({
            "revert_sha": revert_sha.as_str(),
            "reverted_sha": reverted_sha.as_str(),
        }),
        EventPayload::RevertRequested {
            reverted,
            merge_sha,
            pr_url,
            reason,
            requested_by,
        } => json!({
            "reverted": reverted.as_str(),
            "merge_sha": merge_sha.as_str(),
            "pr_url": pr_url,
            "reason": reason,
            "requested_by": requested_by,
        }),
        EventPayload::Setup {
            command,
            network,
            passed,
            exit_code,
            elapsed,
            output,
        } => json!({
            "command": command,
            "network": network,
            "passed": passed,
            "exit_code": exit_code,
            "elapsed_ms": millis(*elapsed),
            "output": output,
        }),
    }
    .to_string()
}

/// The payload a stored `document` of `kind` holds; `None` for a kind that is no
/// [`EventPayload`]'s (the store's own, such as phase changes) and for a document that does
/// not read as its kind's.
pub(crate) fn decode(kind: &str, document: &str) -> Option<EventPayload> {
    let value: Value = serde_json::from_str(document).ok()?;
    let doc = Doc(&value);
    Some(match kind {
        EventPayload::ISSUE_TITLE => EventPayload::IssueTitle {
            title: doc.text("title")?,
        },
        EventPayload::MERGED => EventPayload::Merged {
            sha: CommitSha::new(doc.text("sha")?),
            approved_by: doc.texts("approved_by")?,
        },
        EventPayload::GATE_DECISION => EventPayload::GateDecision {
            decision: doc.text("decision")?,
            reasons: doc.texts("reasons")?,
            head: doc.optional_text("head")?.map(CommitSha::new),
        },
        EventPayload::RETRY => EventPayload::Retry {
            what: doc.text("what")?,
            attempt: doc.small("attempt")?,
            why: doc.text("why")?,
        },
        EventPayload::CHECK_RERUN => EventPayload::CheckRerun {
            check: doc.text("check")?,
            sha: CommitSha::new(doc.text("sha")?),
        },
        EventPayload::FLAKY_CHECK => EventPayload::FlakyCheck {
            check: doc.text("check")?,
            sha: CommitSha::new(doc.text("sha")?),
        },
        EventPayload::CI_FIX => EventPayload::CiFix {
            round: doc.small("round")?,
            checks: doc.texts("checks")?,
        },
        EventPayload::CONFLICT_ROUND => EventPayload::ConflictRound {
            round: doc.small("round")?,
            files: doc.texts("files")?,
            landed: doc.texts("landed")?,
        },
        EventPayload::NOTIFY_FAILED => EventPayload::NotifyFailed {
            key: notify_key(&doc.text("key")?)?,
            error: doc.text("error")?,
        },
        EventPayload::QA_FILES => EventPayload::QaFiles {
            files: doc
                .list("files")?
                .iter()
                .map(|file| {
                    let file = Doc(file);
                    let digest = match file.optional_text("digest")? {
                        Some(digest) => Some(digest),
                        None if file.0.get("deleted") == Some(&Value::Bool(true)) => None,
                        None => return None,
                    };
                    Some(QaFile {
                        path: file.text("path")?,
                        digest,
                    })
                })
                .collect::<Option<_>>()?,
        },
        EventPayload::DIAGNOSIS => EventPayload::Diagnosis {
            hypothesis: doc.text("hypothesis")?,
            plan: doc.text("plan")?,
            confidence: confidence(&doc.text("confidence")?)?,
            files: doc.texts("files")?,
        },
        EventPayload::TEST_CHANGE_REQUESTED => EventPayload::TestChangeRequested {
            round: doc.small("round")?,
            requests: doc
                .list("requests")?
                .iter()
                .map(|request| {
                    let request = Doc(request);
                    Some(TestChangeRequest {
                        path: request.text("path")?,
                        reason: request.text("reason")?,
                    })
                })
                .collect::<Option<_>>()?,
        },
        EventPayload::REVIEW_VERDICT => EventPayload::ReviewVerdict {
            round: doc.small("round")?,
            role: doc.text("role")?.parse::<Role>().ok()?,
            verdict: ReviewVerdict::from_name(&doc.text("verdict")?)?,
            head: CommitSha::new(doc.text("head")?),
            review_id: doc.optional_number("review_id")?,
        },
        EventPayload::WORK_SAVED => match doc.flag("saved")? {
            true => EventPayload::WorkSaved {
                branch: doc.text("branch")?,
                head: CommitSha::new(doc.text("head")?),
                wip_commit: doc.flag("wip_commit")?,
                beside_pr: doc.flag("beside_pr")?,
                url: doc.optional_text("url")?,
            },
            false => EventPayload::WorkNotSaved {
                error: doc.text("error")?,
            },
        },
        EventPayload::BASE_TESTED => {
            let output = doc.text("output")?;
            EventPayload::BaseTested {
                lane: lane(&doc.text("lane")?)?,
                sha: CommitSha::new(doc.text("sha")?),
                verdict: match doc.text("verdict")?.as_str() {
                    "passed" => BaseVerdict::Passed,
                    "failed" => BaseVerdict::Failed(output),
                    "untested" => BaseVerdict::Untested(output),
                    _ => return None,
                },
            }
        }
        EventPayload::FIX_REQUESTED => EventPayload::FixRequested {
            requested_by: doc.text("requested_by")?,
            channel: doc.optional_text("channel")?,
            thread_ts: doc.optional_text("thread_ts")?,
        },
        EventPayload::PENDING_COMMENT => EventPayload::PendingComment {
            issue: IssueKey::new(doc.text("issue")?),
            marker: doc.text("marker")?,
            body: doc.text("body")?,
        },
        EventPayload::TIME_TO_MERGE => EventPayload::TimeToMerge {
            elapsed: Duration::from_millis(doc.number("millis")?),
        },
        EventPayload::REVERTED => EventPayload::Reverted {
            pr: PrNumber(doc.number("pr")?),
            url: doc.text("url")?,
            reverted_sha: CommitSha::new(doc.text("reverted_sha")?),
            now: doc.flag("now")?,
        },
        EventPayload::REVERTED_ON_BASE => EventPayload::RevertedOnBase {
            revert_sha: CommitSha::new(doc.text("revert_sha")?),
            reverted_sha: CommitSha::new(doc.text("reverted_sha")?),
        },
        EventPayload::REVERT_REQUESTED => EventPayload::RevertRequested {
            reverted: SquadId::new(doc.text("reverted")?),
            merge_sha: CommitSha::new(doc.text("merge_sha")?),
            pr_url: doc.optional_text("pr_url")?,
            reason: doc.optional_text("reason")?,
            requested_by: doc.text("requested_by")?,
        },
        EventPayload::SETUP => EventPayload::Setup {
            command: doc.text("command")?,
            network: doc.flag("network")?,
            passed: doc.flag("passed")?,
            exit_code: match doc.0.get("exit_code") {
                None | Some(Value::Null) => None,
                Some(code) => Some(i32::try_from(code.as_i64()?).ok()?),
            },
            elapsed: Duration::from_millis(doc.number("elapsed_ms")?),
            output: doc.text("output")?,
        },
        _ => return None,
    })
}

/// A stored document's fields, each `None` when missing or of another type.
struct Doc<'a>(&'a Value);

impl Doc<'_> {
    fn text(&self, name: &str) -> Option<String> {
        self.0.get(name)?.as_str().map(str::to_owned)
    }

    /// A text that may be missing or `null`.
    fn optional_text(&self, name: &str) -> Option<Option<String>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(value) => value.as_str().map(|text| Some(text.to_owned())),
        }
    }

    fn texts(&self, name: &str) -> Option<Vec<String>> {
        self.list(name)?
            .iter()
            .map(|value| value.as_str().map(str::to_owned))
            .collect()
    }

    fn list(&self, name: &str) -> Option<&Vec<Value>> {
        self.0.get(name)?.as_array()
    }

    fn number(&self, name: &str) -> Option<u64> {
        self.0.get(name)?.as_u64()
    }

    /// A number that may be missing or `null`.
    fn optional_number(&self, name: &str) -> Option<Option<u64>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(value) => value.as_u64().map(Some),
        }
    }

    fn small(&self, name: &str) -> Option<u32> {
        u32::try_from(self.number(name)?).ok()
    }

    fn flag(&self, name: &str) -> Option<bool> {
        self.0.get(name)?.as_bool()
    }
}

/// Milliseconds, saturating.
fn millis(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

fn confidence(name: &str) -> Option<Confidence> {
    [Confidence::Low, Confidence::Medium, Confidence::High]
        .into_iter()
        .find(|confidence| confidence.as_str() == name)
}

/// A lane as its `Display` writes it: `acme/shop:main` (neither a repository nor a branch
/// name holds a `:`).
fn lane(text: &str) -> Option<MergeLane> {
    let (repo, base) = text.split_once(':')?;
    let (owner, name) = repo.split_once('/')?;
    Some(MergeLane {
        repo: RepoRef::new(owner, name),
        base: base.to_owned(),
    })
}

/// The chat post a failed notification named: `<squad>/notify/thread` or
/// `<squad>/notify/<update>`, the only keys whose failures are noted.
fn notify_key(text: &str) -> Option<EffectKey> {
    let (squad, update) = text.split_once("/notify/")?;
    let squad = SquadId::from(squad);
    Some(match update {
        "thread" => EffectKey::ChatThread { squad },
        update => EffectKey::Notify {
            squad,
            update: update.to_owned(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha() -> CommitSha {
        CommitSha::from("0123456789abcdef0123456789abcdef01234567")
    }

    /// Each payload is stored as the document earlier versions wrote with `json!`, and each
    /// such document reads back as the payload.
    #[test]
    fn payloads_are_stored_as_before_and_read_back() {
        let cases = [
            (
                EventPayload::IssueTitle {
                    title: "Free shipping above 50 \"EUR\"".to_owned(),
                },
                r#"{"title":"Free shipping above 50 \"EUR\""}"#,
            ),
            (
                EventPayload::Merged {
                    sha: sha(),
                    approved_by: vec!["squadron-qa".to_owned(), "octocat".to_owned()],
                },
                r#"{"approved_by":["squadron-qa","octocat"],"sha":"0123456789abcdef0123456789abcdef01234567"}"#,
            ),
            (
                EventPayload::Merged {
                    sha: sha(),
                    approved_by: Vec::new(),
                },
                r#"{"approved_by":[],"sha":"0123456789abcdef0123456789abcdef01234567"}"#,
            ),
            (
                EventPayload::GateDecision {
                    decision: "wait".to_owned(),
                    reasons: vec!["check `ci` is pending".to_owned()],
                    head: Some(sha()),
                },
                r#"{"decision":"wait","head":"0123456789abcdef0123456789abcdef01234567","reasons":["check `ci` is pending"]}"#,
            ),
            (
                EventPayload::GateDecision {
                    decision: "merge".to_owned(),
                    reasons: Vec::new(),
                    head: None,
                },
                r#"{"decision":"merge","head":null,"reasons":[]}"#,
            ),
            (
                EventPayload::Retry {
                    what: "tests".to_owned(),
                    attempt: 2,
                    why: "the test command failed".to_owned(),
                },
                r#"{"attempt":2,"what":"tests","why":"the test command failed"}"#,
            ),
            (
                EventPayload::CheckRerun {
                    check: "ci".to_owned(),
                    sha: sha(),
                },
                r#"{"check":"ci","sha":"0123456789abcdef0123456789abcdef01234567"}"#,
            ),
            (
                EventPayload::FlakyCheck {
                    check: "ci".to_owned(),
                    sha: sha(),
                },
                r#"{"check":"ci","sha":"0123456789abcdef0123456789abcdef01234567"}"#,
            ),
            (
                EventPayload::CiFix {
                    round: 1,
                    checks: vec!["ci".to_owned(), "lint".to_owned()],
                },
                r#"{"checks":["ci","lint"],"round":1}"#,
            ),
            (
                EventPayload::ConflictRound {
                    round: 1,
                    files: vec!["ledger/__init__.py".to_owned()],
                    landed: vec!["ENG-1".to_owned()],
                },
                r#"{"files":["ledger/__init__.py"],"landed":["ENG-1"],"round":1}"#,
            ),
            (
                EventPayload::NotifyFailed {
                    key: EffectKey::ChatThread {
                        squad: SquadId::from("s1"),
                    },
                    error: "post to the chat: 503".to_owned(),
                },
                r#"{"error":"post to the chat: 503","key":"s1/notify/thread"}"#,
            ),
            (
                EventPayload::NotifyFailed {
                    key: EffectKey::Notify {
                        squad: SquadId::from("s1"),
                        update: "review-1-code-reviewer-0123456".to_owned(),
                    },
                    error: "post to the chat: 503".to_owned(),
                },
                r#"{"error":"post to the chat: 503","key":"s1/notify/review-1-code-reviewer-0123456"}"#,
            ),
            (
                EventPayload::QaFiles {
                    files: vec![
                        QaFile {
                            path: "tests/test_a.py".to_owned(),
                            digest: Some("d1".to_owned()),
                        },
                        QaFile {
                            path: "tests/test_b.py".to_owned(),
                            digest: None,
                        },
                    ],
                },
                r#"{"files":[{"digest":"d1","path":"tests/test_a.py"},{"deleted":true,"path":"tests/test_b.py"}]}"#,
            ),
            (
                EventPayload::Diagnosis {
                    hypothesis: "The crash started with https://github.com/acme/shop/pull/12."
                        .to_owned(),
                    plan: "Guard the empty cart.".to_owned(),
                    confidence: Confidence::High,
                    files: vec!["shop/cart.py".to_owned()],
                },
                r#"{"confidence":"high","files":["shop/cart.py"],"hypothesis":"The crash started with https://github.com/acme/shop/pull/12.","plan":"Guard the empty cart."}"#,
            ),
            (
                EventPayload::TestChangeRequested {
                    round: 2,
                    requests: vec![TestChangeRequest {
                        path: "tests/test_a.py".to_owned(),
                        reason: "asserts the old message".to_owned(),
                    }],
                },
                r#"{"requests":[{"path":"tests/test_a.py","reason":"asserts the old message"}],"round":2}"#,
            ),
            (
                EventPayload::ReviewVerdict {
                    round: 1,
                    role: Role::CodeReviewer,
                    verdict: ReviewVerdict::ChangesRequested,
                    head: sha(),
                    review_id: Some(77),
                },
                r#"{"head":"0123456789abcdef0123456789abcdef01234567","review_id":77,"role":"code-reviewer","round":1,"verdict":"changes-requested"}"#,
            ),
            (
                EventPayload::ReviewVerdict {
                    round: 3,
                    role: Role::QaSpecialist,
                    verdict: ReviewVerdict::Approved,
                    head: sha(),
                    review_id: None,
                },
                r#"{"head":"0123456789abcdef0123456789abcdef01234567","review_id":null,"role":"qa-specialist","round":3,"verdict":"approved"}"#,
            ),
            (
                EventPayload::WorkSaved {
                    branch: "wip/eng-1/0123456".to_owned(),
                    head: sha(),
                    wip_commit: true,
                    beside_pr: true,
                    url: Some("https://github.com/acme/shop/tree/wip/eng-1/0123456".to_owned()),
                },
                r#"{"beside_pr":true,"branch":"wip/eng-1/0123456","head":"0123456789abcdef0123456789abcdef01234567","saved":true,"url":"https://github.com/acme/shop/tree/wip/eng-1/0123456","wip_commit":true}"#,
            ),
            (
                EventPayload::WorkNotSaved {
                    error: "push eng-1: 502".to_owned(),
                },
                r#"{"error":"push eng-1: 502","saved":false}"#,
            ),
            (
                EventPayload::BaseTested {
                    lane: MergeLane {
                        repo: RepoRef::new("acme", "shop"),
                        base: "release/1.x".to_owned(),
                    },
                    sha: sha(),
                    verdict: BaseVerdict::Failed("1 failed".to_owned()),
                },
                r#"{"lane":"acme/shop:release/1.x","output":"1 failed","sha":"0123456789abcdef0123456789abcdef01234567","verdict":"failed"}"#,
            ),
            (
                EventPayload::BaseTested {
                    lane: MergeLane {
                        repo: RepoRef::new("acme", "shop"),
                        base: "main".to_owned(),
                    },
                    sha: sha(),
                    verdict: BaseVerdict::Passed,
                },
                r#"{"lane":"acme/shop:main","output":"","sha":"0123456789abcdef0123456789abcdef01234567","verdict":"passed"}"#,
            ),
            (
                EventPayload::FixRequested {
                    requested_by: "U024BE7LH".to_owned(),
                    channel: Some("C024BE91L".to_owned()),
                    thread_ts: None,
                },
                r#"{"channel":"C024BE91L","requested_by":"U024BE7LH","thread_ts":null}"#,
            ),
            (
                EventPayload::PendingComment {
                    issue: IssueKey::from("ENG-4"),
                    marker: "squadron:admission".to_owned(),
                    body: "Left out: no acceptance scenarios.".to_owned(),
                },
                r#"{"body":"Left out: no acceptance scenarios.","issue":"ENG-4","marker":"squadron:admission"}"#,
            ),
            (
                EventPayload::TimeToMerge {
                    elapsed: Duration::from_millis(90_500),
                },
                r#"{"millis":90500}"#,
            ),
            (
                EventPayload::Reverted {
                    pr: PrNumber(9),
                    url: "https://github.com/acme/shop/pull/9".to_owned(),
                    reverted_sha: sha(),
                    now: true,
                },
                r#"{"now":true,"pr":9,"reverted_sha":"0123456789abcdef0123456789abcdef01234567","url":"https://github.com/acme/shop/pull/9"}"#,
            ),
            (
                EventPayload::RevertedOnBase {
                    revert_sha: CommitSha::new("fedcba9876543210fedcba9876543210fedcba98"),
                    reverted_sha: sha(),
                },
                r#"{"revert_sha":"fedcba9876543210fedcba9876543210fedcba98","reverted_sha":"0123456789abcdef0123456789abcdef01234567"}"#,
            ),
            (
                EventPayload::RevertRequested {
                    reverted: SquadId::new("run-1-eng-2"),
                    merge_sha: sha(),
                    pr_url: Some("https://github.com/acme/shop/pull/9".to_owned()),
                    reason: None,
                    requested_by: "cli".to_owned(),
                },
                r#"{"merge_sha":"0123456789abcdef0123456789abcdef01234567","pr_url":"https://github.com/acme/shop/pull/9","reason":null,"requested_by":"cli","reverted":"run-1-eng-2"}"#,
            ),
            (
                EventPayload::Setup {
                    command: "make deps".to_owned(),
                    network: false,
                    passed: false,
                    exit_code: Some(2),
                    elapsed: Duration::from_millis(1_250),
                    output: "make: *** no rule".to_owned(),
                },
                r#"{"command":"make deps","elapsed_ms":1250,"exit_code":2,"network":false,"output":"make: *** no rule","passed":false}"#,
            ),
            (
                EventPayload::Setup {
                    command: "sleep 99".to_owned(),
                    network: true,
                    passed: false,
                    exit_code: None,
                    elapsed: Duration::from_millis(60_000),
                    output: String::new(),
                },
                r#"{"command":"sleep 99","elapsed_ms":60000,"exit_code":null,"network":true,"output":"","passed":false}"#,
            ),
        ];
        for (payload, stored) in cases {
            assert_eq!(encode(&payload), stored, "{}", payload.kind());
            assert_eq!(decode(payload.kind(), stored), Some(payload), "{stored}");
        }
    }
}

#[cfg(test)]
mod reading {
    use super::*;

    /// Documents that do not read as their kind's are no payload, and the store's own kinds
    /// are none either.
    #[test]
    fn unreadable_documents_and_other_kinds_are_no_payload() {
        assert_eq!(
            decode("phase-changed", r#"{"from":"queued","to":"preparing"}"#),
            None
        );
        assert_eq!(decode(EventPayload::RETRY, "not json"), None);
        assert_eq!(decode(EventPayload::RETRY, r#"{"what":"tests"}"#), None);
        assert_eq!(
            decode(
                EventPayload::DIAGNOSIS,
                r#"{"hypothesis":"h","plan":"p","confidence":"sure","files":[]}"#
            ),
            None
        );
        assert_eq!(
            decode(
                EventPayload::QA_FILES,
                r#"{"files":[{"path":"tests/a.py"}]}"#
            ),
            None
        );
        assert_eq!(
            decode(
                EventPayload::BASE_TESTED,
                r#"{"lane":"acme/shop:main","sha":"abc","verdict":"maybe","output":""}"#
            ),
            None
        );
    }

    /// A review verdict recorded before review ids were kept (no `review_id`) still reads.
    #[test]
    fn older_documents_without_optional_fields_read() {
        assert_eq!(
            decode(
                EventPayload::REVIEW_VERDICT,
                r#"{"round":1,"role":"code-reviewer","verdict":"approved","head":"abc"}"#
            ),
            Some(EventPayload::ReviewVerdict {
                round: 1,
                role: Role::CodeReviewer,
                verdict: ReviewVerdict::Approved,
                head: CommitSha::from("abc"),
                review_id: None,
            })
        );
    }
}
