//! The JSON the event log keeps of each [`EventPayload`]: the one place that knows it. The
//! documents are those earlier versions wrote, so readers of older logs (`squadron logs`,
//! a squad's page) see the same fields.

use serde_json::json;
use squadron_core::event_payload::EventPayload;

/// The stored JSON document of `payload`.
pub(crate) fn encode(payload: &EventPayload) -> String {
    match payload {
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
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use squadron_core::SquadId;
    use squadron_core::effect::EffectKey;
    use squadron_core::gate::CommitSha;

    use super::*;

    /// Each payload is stored as the document earlier versions wrote with `json!`.
    #[test]
    fn payloads_are_stored_as_before() {
        let sha = CommitSha::from("0123456789abcdef0123456789abcdef01234567");
        let cases = [
            (
                EventPayload::GateDecision {
                    decision: "wait".to_owned(),
                    reasons: vec!["check `ci` is pending".to_owned()],
                    head: Some(sha.clone()),
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
                    sha: sha.clone(),
                },
                r#"{"check":"ci","sha":"0123456789abcdef0123456789abcdef01234567"}"#,
            ),
            (
                EventPayload::FlakyCheck {
                    check: "ci".to_owned(),
                    sha,
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
        ];
        for (payload, stored) in cases {
            assert_eq!(encode(&payload), stored, "{}", payload.kind());
        }
    }
}
