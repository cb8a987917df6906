//! Who can steer the daemon: the control API lives on its own listener (the webhook
//! listener does not serve it), needs the control token when one is configured, answers only
//! to its own host names and pages, and `/squad fix` obeys the Slack allow-lists. Idle
//! connections are closed after the header-read timeout, and a request not answered within
//! the request timeout (its body never sent) is answered 503.

use std::sync::Arc;
use std::time::Duration;

use squadron::server::{ControlAccess, Listeners, Server, ServerSettings, SlackFixPolicy};
use squadron_config::Secret;
use squadron_standin_slack::SlashCommandRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::support::{
    FakeControl, FixedClock, NOW, PROJECT_URL, SLACK_SECRET, TestServer, json, settings,
};

const TOKEN: &str = "control-token-3f9a1c";

fn with_token() -> ServerSettings {
    let mut settings = settings();
    settings.control = ControlAccess {
        token: Some(Secret::new(TOKEN)),
        token_env: "SQUADRON_CONTROL_TOKEN".to_owned(),
        hosts: vec!["squadron.internal.example".to_owned()],
    };
    settings
}

fn start_run_body() -> String {
    serde_json::json!({ "url": PROJECT_URL }).to_string()
}

#[tokio::test]
async fn the_webhook_listener_does_not_serve_the_control_api() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let control = FakeControl::new();
    let webhooks = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let controls = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (webhook_base, control_base) = (
        format!("http://{}", webhooks.local_addr().unwrap()),
        format!("http://{}", controls.local_addr().unwrap()),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let server = Server::new(control.clone(), Arc::new(FixedClock), settings());
    let task = tokio::spawn(squadron::server::run(
        Listeners::split(webhooks, controls),
        server,
        async move {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::new();

    for path in ["/api/runs", "/api/squads", "/metrics", "/"] {
        let response = if path == "/api/runs" {
            client
                .post(format!("{webhook_base}{path}"))
                .header("content-type", "application/json")
                .body(start_run_body())
                .send()
                .await
        } else {
            client.get(format!("{webhook_base}{path}")).send().await
        }
        .unwrap();
        assert_eq!(response.status(), 404, "{path} on the webhook listener");
    }
    assert!(control.recorded().started.is_empty());
    let health = client
        .get(format!("{webhook_base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // The webhooks are there, still signature-checked.
    let unsigned = client
        .post(format!("{webhook_base}/webhooks/slack"))
        .body("command=%2Fsquad&text=fix+ENG-1")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let webhooks_on_control = client
        .post(format!("{control_base}/webhooks/slack"))
        .send()
        .await
        .unwrap();
    assert_eq!(webhooks_on_control.status(), 404);

    let started = client
        .post(format!("{control_base}/api/runs"))
        .header("content-type", "application/json")
        .body(start_run_body())
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    assert_eq!(control.recorded().started, vec![PROJECT_URL.to_owned()]);

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn an_unauthenticated_post_api_runs_is_refused_and_starts_nothing() {
    let control = FakeControl::new();
    let server = TestServer::start_with(control.clone(), with_token()).await;

    let (status, body) = json(server.post_json("/api/runs", &start_run_body()).await).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("SQUADRON_CONTROL_TOKEN"), "{message}");
    assert!(!message.contains(TOKEN), "{message}");
    let wrong = server
        .client
        .post(server.url("/api/runs"))
        .header("content-type", "application/json")
        .header("authorization", "Bearer not-the-token")
        .body(start_run_body())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    for path in ["/api/squads", "/api/events", "/metrics", "/"] {
        assert_eq!(server.get(path).await.status(), 401, "{path}");
    }
    assert!(control.recorded().started.is_empty());
    // Webhooks and the health check need no token: signatures guard the former.
    assert_eq!(server.get("/healthz").await.status(), 200);

    let started = server
        .client
        .post(server.url("/api/runs"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(start_run_body())
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    assert_eq!(control.recorded().started.len(), 1);

    // The dashboard: `/?token=` keeps the token in a strict cookie and drops it from the URL.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = no_redirects
        .get(server.url(&format!("/?token={TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    assert_eq!(login.headers()["location"], "/");
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let squads = no_redirects
        .get(server.url("/api/squads"))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(squads.status(), 200);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_rebinding_host_or_a_foreign_origin_is_refused() {
    let control = FakeControl::new();
    let server = TestServer::start(control.clone()).await;
    let port = server.base.rsplit(':').next().unwrap().to_owned();

    // A page on evil.example whose name now resolves to 127.0.0.1 sends its own host name.
    let rebound = server
        .client
        .post(server.url("/api/runs"))
        .header("host", format!("evil.example:{port}"))
        .header("content-type", "application/json")
        .body(start_run_body())
        .send()
        .await
        .unwrap();
    let (status, body) = json(rebound).await;
    assert_eq!(status, 421, "{body}");
    assert_eq!(body["error"]["code"], "unknown_host");
    let read = server
        .client
        .get(server.url("/api/squads"))
        .header("host", format!("evil.example:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 421);
    let cross_site = server
        .client
        .post(server.url("/api/runs"))
        .header("origin", "https://evil.example")
        .header("content-type", "application/json")
        .body(start_run_body())
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    assert!(control.recorded().started.is_empty());

    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let response = server
            .client
            .get(server.url("/api/squads"))
            .header("host", &host)
            .header("origin", format!("http://{host}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{host}");
    }
    // Webhooks come through proxies under any name; their signatures guard them.
    let webhook = server
        .client
        .post(server.url("/webhooks/slack"))
        .header("host", "hooks.example.com")
        .body("x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(webhook.status(), 401);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn squad_fix_obeys_the_slack_allow_lists() {
    let control = FakeControl::new();
    let mut settings = settings();
    settings.slack_fix = SlackFixPolicy {
        users: vec!["U0ONCALL".to_owned()],
        channels: vec!["C0INCIDENTS".to_owned()],
    };
    let server = TestServer::start_with(control.clone(), settings).await;
    let signed_at = NOW.as_millis() / 1000;
    let send = |user: &str, channel: &str| {
        let mut request = SlashCommandRequest::new("/squad", "fix ENG-1");
        request.user_id = user.to_owned();
        request.channel_id = channel.to_owned();
        let signed = request.sign(SLACK_SECRET, signed_at);
        let mut builder = server.client.post(server.url("/webhooks/slack"));
        for (name, value) in signed.headers() {
            builder = builder.header(name, value);
        }
        builder.body(signed.body.clone()).send()
    };

    for (user, channel, reason) in [
        ("U0STRANGER", "C0INCIDENTS", "may not start fix squads"),
        (
            "U0ONCALL",
            "C0RANDOM",
            "this channel may not be used to start fix squads",
        ),
    ] {
        let (status, answer) = json(send(user, channel).await.unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(answer["response_type"], "ephemeral");
        let text = answer["text"].as_str().unwrap();
        assert!(text.contains(reason), "{text}");
    }
    assert!(control.recorded().fixes.is_empty());

    let (status, answer) = json(send("U0ONCALL", "C0INCIDENTS").await.unwrap()).await;
    assert_eq!(status, 200, "{answer}");
    let answered = Arc::clone(&control.recorded().fix_answered);
    tokio::time::timeout(Duration::from_secs(10), answered.notified())
        .await
        .expect("the allowed fix starts");
    assert_eq!(control.recorded().fixes.len(), 1);
    server.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_read_timeout() {
    let control = FakeControl::new();
    let mut settings = settings();
    settings.transport.header_read_timeout = Duration::from_secs(5);
    let server = TestServer::start_with(control, settings).await;
    let address = server.base.trim_start_matches("http://").to_owned();

    let mut silent = TcpStream::connect(&address).await.unwrap();
    let mut trickling = TcpStream::connect(&address).await.unwrap();
    trickling
        .write_all(b"POST /webhooks/slack HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // With the clock paused, the runtime jumps to the timeout as soon as nothing else is
    // ready: the reads end only if the server closes the connections.
    let mut buffer = [0_u8; 512];
    let read = silent.read(&mut buffer).await.unwrap();
    assert_eq!(read, 0, "the silent connection is closed");
    let read = trickling.read(&mut buffer).await.unwrap_or(0);
    let answer = String::from_utf8_lossy(&buffer[..read]);
    assert!(
        read == 0 || answer.starts_with("HTTP/1.1 408"),
        "the trickling connection is closed: {answer}"
    );
    server.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_request_whose_body_never_comes_is_answered_503_after_the_request_timeout() {
    let control = FakeControl::new();
    let mut settings = settings();
    settings.transport.request_timeout = Duration::from_secs(5);
    let server = TestServer::start_with(control, settings).await;
    let address = server.base.trim_start_matches("http://").to_owned();

    // Whole headers, announcing a body that never comes: the header-read timeout is over,
    // so only the request timeout can free the handler waiting for it.
    let mut stalled = TcpStream::connect(&address).await.unwrap();
    stalled
        .write_all(
            b"POST /webhooks/slack HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buffer = [0_u8; 1024];
    let read = stalled.read(&mut buffer).await.unwrap();
    let answer = String::from_utf8_lossy(&buffer[..read]);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    server.stop().await.unwrap();
}
