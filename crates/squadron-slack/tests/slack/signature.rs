//! Request verification: Slack's official vector passes; every forgery or replay is a 401
//! refusal that happens before anything of the body is read.

use http::HeaderMap;
use squadron_slack::{SignatureRejection, SlackRefusal, verify_request, verify_signature};
use squadron_standin_slack::{SignedRequest, SlashCommandRequest, slack_signature};

use super::support::{
    OFFICIAL_BODY, OFFICIAL_SECRET, OFFICIAL_SIGNATURE, OFFICIAL_TIMESTAMP, SECRET, SENT_AT, at,
    headers_of, read,
};

fn verify_official(
    secret: &str,
    body: &str,
    now_offset_secs: i64,
) -> Result<(), SignatureRejection> {
    verify_signature(
        secret.as_bytes(),
        Some(&OFFICIAL_TIMESTAMP.to_string()),
        Some(OFFICIAL_SIGNATURE),
        body.as_bytes(),
        at(OFFICIAL_TIMESTAMP, now_offset_secs),
    )
}

#[test]
fn slacks_official_vector_passes() {
    assert_eq!(verify_official(OFFICIAL_SECRET, OFFICIAL_BODY, 0), Ok(()));
    assert_eq!(verify_official(OFFICIAL_SECRET, OFFICIAL_BODY, 299), Ok(()));
}

#[test]
fn the_stand_in_signs_exactly_as_slack_does() {
    assert_eq!(
        slack_signature(
            OFFICIAL_SECRET,
            &OFFICIAL_TIMESTAMP.to_string(),
            OFFICIAL_BODY
        ),
        OFFICIAL_SIGNATURE
    );
}

#[test]
fn a_wrong_secret_is_refused() {
    assert_eq!(
        verify_official("8f742231b10e8888abcd99yyyzzz85a6", OFFICIAL_BODY, 0),
        Err(SignatureRejection::BadSignature)
    );
}

#[test]
fn a_tampered_body_is_refused() {
    let tampered = OFFICIAL_BODY.replace("text=&", "text=fix+ENG-1&");
    assert_eq!(
        verify_official(OFFICIAL_SECRET, &tampered, 0),
        Err(SignatureRejection::BadSignature)
    );
}

#[test]
fn a_timestamp_more_than_300_seconds_away_is_refused() {
    assert_eq!(
        verify_official(OFFICIAL_SECRET, OFFICIAL_BODY, 301),
        Err(SignatureRejection::StaleTimestamp { skew_secs: 301 })
    );
    assert_eq!(
        verify_official(OFFICIAL_SECRET, OFFICIAL_BODY, -400),
        Err(SignatureRejection::StaleTimestamp { skew_secs: 400 })
    );
}

#[test]
fn missing_or_malformed_headers_are_refused() {
    let body = OFFICIAL_BODY.as_bytes();
    let now = at(OFFICIAL_TIMESTAMP, 0);
    let timestamp = OFFICIAL_TIMESTAMP.to_string();
    let secret = OFFICIAL_SECRET.as_bytes();
    assert_eq!(
        verify_signature(secret, None, Some(OFFICIAL_SIGNATURE), body, now),
        Err(SignatureRejection::MissingTimestamp)
    );
    assert_eq!(
        verify_signature(secret, Some(&timestamp), None, body, now),
        Err(SignatureRejection::MissingSignature)
    );
    assert_eq!(
        verify_signature(
            secret,
            Some("yesterday"),
            Some(OFFICIAL_SIGNATURE),
            body,
            now
        ),
        Err(SignatureRejection::MalformedTimestamp {
            value: "yesterday".to_owned()
        })
    );
    let unversioned = OFFICIAL_SIGNATURE.trim_start_matches("v0=");
    assert_eq!(
        verify_signature(secret, Some(&timestamp), Some(unversioned), body, now),
        Err(SignatureRejection::BadSignature)
    );
    assert_eq!(
        verify_signature(b"", Some(&timestamp), Some(OFFICIAL_SIGNATURE), body, now),
        Err(SignatureRejection::NoSigningSecret)
    );
    assert_eq!(
        verify_request(secret, &HeaderMap::new(), body, now),
        Err(SignatureRejection::MissingTimestamp)
    );
}

#[test]
fn every_refusal_answers_401_with_an_empty_body() {
    let rejections = [
        SignatureRejection::NoSigningSecret,
        SignatureRejection::MissingTimestamp,
        SignatureRejection::MissingSignature,
        SignatureRejection::MalformedTimestamp {
            value: "x".to_owned(),
        },
        SignatureRejection::StaleTimestamp { skew_secs: 301 },
        SignatureRejection::BadSignature,
    ];
    for rejection in rejections {
        assert_eq!(rejection.status(), 401, "{rejection}");
        let refusal = SlackRefusal::from(rejection);
        assert_eq!(refusal.status(), 401);
        assert_eq!(refusal.immediate_response().body(), "");
    }
}

#[test]
fn a_forged_request_is_refused_before_its_body_is_read() {
    // Garbage that would be a 400 if it were read: a 401 proves it never was.
    let forged = SignedRequest::sign("not-the-secret", SENT_AT, "%%%not a form".to_owned());
    let refusal = read(&forged).expect_err("forged request refused");
    assert!(
        matches!(
            refusal,
            SlackRefusal::Unverified(SignatureRejection::BadSignature)
        ),
        "{refusal:?}"
    );
    assert_eq!(refusal.status(), 401);
}

#[test]
fn a_replayed_command_is_refused_even_with_a_valid_signature() {
    let command = SlashCommandRequest::new("/squad", "fix ENG-123").sign(SECRET, SENT_AT);
    let refusal = squadron_slack::read_request(
        SECRET.as_bytes(),
        &headers_of(&command),
        command.body.as_bytes(),
        at(SENT_AT, 301),
    )
    .expect_err("replay refused");
    assert_eq!(refusal.status(), 401);
    assert!(refusal.to_string().contains("beyond 300 s"), "{refusal}");
}
