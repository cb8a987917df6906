//! The stand-in validates every document against Linear's schema and honours pagination.

use serde_json::{Value, json};
use squadron_standin_linear::{IssueSpec, StandinLinear, Workspace};

async fn post(standin: &StandinLinear, body: Value) -> (u16, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .post(standin.endpoint())
        .header("authorization", StandinLinear::API_KEY)
        .json(&body)
        .send()
        .await
        .expect("stand-in answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON answer"))
}

fn workspace() -> Workspace {
    let mut ws = Workspace::new("acme");
    ws.add_team("ENG", "Engineering");
    for i in 0..5 {
        ws.add_issue(IssueSpec::new("ENG", &format!("issue {i}")));
    }
    ws
}

#[tokio::test]
async fn invalid_documents_get_a_graphql_error_and_change_nothing() {
    let standin = StandinLinear::start(workspace()).await.expect("starts");
    let (status, body) = post(
        &standin,
        json!({ "query": "mutation { commentCreate(input: { issueId: \"ENG-1\", body: \"x\" }) { success nonsense } }" }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("nonsense"),
        "{body}"
    );
    assert!(standin.mutations().is_empty());
    assert_eq!(standin.request_count(), 1);
}

#[tokio::test]
async fn connections_paginate_with_cursors_and_honour_the_selection() {
    let standin = StandinLinear::start(workspace()).await.expect("starts");
    let query = "query Page($after: String) { issues(first: 2, after: $after, filter: { team: { key: { eq: \"ENG\" } } }) { nodes { identifier } pageInfo { hasNextPage endCursor } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let (status, body) = post(
            &standin,
            json!({ "query": query, "variables": { "after": after } }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let issues = &body["data"]["issues"];
        for node in issues["nodes"].as_array().expect("nodes") {
            assert_eq!(
                node.as_object().map(|o| o.len()),
                Some(1),
                "only the selected field: {node}"
            );
            seen.push(node["identifier"].as_str().unwrap_or_default().to_owned());
        }
        if issues["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = issues["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, ["ENG-1", "ENG-2", "ENG-3", "ENG-4", "ENG-5"]);
    assert_eq!(standin.request_count(), 3);
}

#[tokio::test]
async fn unknown_credentials_get_linears_authentication_error() {
    let standin = StandinLinear::start(workspace()).await.expect("starts");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .post(standin.endpoint())
        .header("authorization", "lin_api_wrong")
        .json(&json!({ "query": "{ viewer { id } }" }))
        .send()
        .await
        .expect("answers");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(
        body["errors"][0]["extensions"]["type"],
        "authentication error"
    );
}

#[tokio::test]
async fn held_requests_are_seen_but_answered_only_once_released() {
    let standin = std::sync::Arc::new(StandinLinear::start(workspace()).await.expect("starts"));
    standin.hold();
    let pending = tokio::spawn({
        let standin = std::sync::Arc::clone(&standin);
        async move {
            post(
                &standin,
                json!({ "query": "query { issue(id: \"ENG-1\") { identifier } }" }),
            )
            .await
        }
    });
    // The request is counted on arrival; wait for it without a clock.
    while standin.request_count() == 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        standin.answered_count(),
        0,
        "a held request is not answered"
    );
    assert!(!pending.is_finished());

    standin.release();
    let (status, body) = pending.await.expect("the request completes");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["issue"]["identifier"], "ENG-1");
    assert_eq!(standin.answered_count(), 1);
}

#[tokio::test]
async fn a_failing_operation_gets_server_errors_and_is_not_carried_out_until_it_recovers() {
    let standin = StandinLinear::start(workspace()).await.expect("starts");
    standin.fail_operation("CreateComment", 2, 500);
    let comment = json!({
        "query": "mutation CreateComment($issueId: String!, $body: String!) { commentCreate(input: { issueId: $issueId, body: $body }) { success } }",
        "variables": { "issueId": "ENG-1", "body": "hello" },
    });
    let other = json!({ "query": "query Viewer { viewer { id } }" });
    for _ in 0..2 {
        let (status, body) = post(&standin, comment.clone()).await;
        assert_eq!(status, 500, "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "INTERNAL_SERVER_ERROR"
        );
        let (status, body) = post(&standin, other.clone()).await;
        assert_eq!(status, 200, "other operations are served: {body}");
    }
    assert!(standin.mutations().is_empty(), "nothing was carried out");
    let (status, body) = post(&standin, comment).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(standin.mutations().len(), 1);
}
