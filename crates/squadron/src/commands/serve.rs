//! `squadron serve`: the daemon. Resumes every unfinished squad from the store, runs the
//! scheduler, and serves the API, webhooks, metrics and dashboard until SIGTERM or SIGINT;
//! then stops accepting, lets in-flight work checkpoint, and exits 0.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use squadron::server::{self, PipelineControl, Server, ServerSettings, WebhookSecret};
use squadron_config::Secrets;
use squadron_pipeline::Pipeline;
use squadron_store::SqlStore;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::cli::{GlobalArgs, ServeArgs};
use crate::context::Context;
use crate::error::{CliError, error_chain};
use crate::wiring::SystemClock;

/// Loads the configuration, opens the store, builds the runtime and serves until a signal.
pub async fn run(global: &GlobalArgs, args: &ServeArgs) -> Result<ExitCode, CliError> {
    let context = Context::load(global)?;
    let store = Arc::new(context.open_store().await?);
    let pipeline = crate::commands::run::build_pipeline(&context, Arc::clone(&store)).await?;
    serve(&context, store, pipeline, args.listen).await
}

/// Serves `pipeline` on `listen` (default: `server.listen`) until SIGTERM or SIGINT, or
/// until the runtime stops on its own (then exits with its failure).
pub async fn serve(
    context: &Context,
    store: Arc<SqlStore>,
    pipeline: Pipeline,
    listen: Option<SocketAddr>,
) -> Result<ExitCode, CliError> {
    let secrets = context.config.resolve_secrets(&context.env);
    let settings = server_settings(context, &secrets);
    let address = listen.unwrap_or(context.config.server.listen);
    let listener = TcpListener::bind(address).await.map_err(|error| {
        CliError::config(format!("failed to listen on {address}: {error}")).with_hint(
            "pick a free address with --listen or `server.listen` (e.g. 127.0.0.1:0 for any port)",
        )
    })?;

    let control = Arc::new(PipelineControl::start(pipeline, store));
    let runtime_stopped = control.stopped();
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel();
    let shutdown = async move {
        tokio::select! {
            signal = shutdown_signal() => info!(signal, "received a shutdown signal"),
            failure = runtime_stopped => {
                // The runtime ended without being asked: serving on would accept runs that
                // nothing executes.
                let _ = failed_tx.send(failure);
            }
        }
    };
    let server = Server::new(control, Arc::new(SystemClock), settings);
    server::run(listener, server, shutdown)
        .await
        .map_err(|error| CliError::transient(format!("failed to {}", error_chain(&error))))?;

    match failed_rx.await {
        Ok(Some(failure)) => Err(CliError::internal(format!(
            "the squad runtime stopped: {}",
            error_chain(&failure)
        ))),
        Ok(None) => Err(CliError::internal(
            "the squad runtime stopped without being asked to",
        )),
        // The sender was dropped: the shutdown came from a signal.
        Err(_) => Ok(ExitCode::SUCCESS),
    }
}

/// Webhook and Slack signing secrets as configured; an unset one is reported now and refused per request.
pub(crate) fn server_settings(context: &Context, secrets: &Secrets) -> ServerSettings {
    let linear = WebhookSecret {
        value: secrets.linear_webhook_secret.clone(),
        env_var: context.config.linear.webhook_secret_env.clone(),
        config_key: "linear.webhook_secret_env".to_owned(),
    };
    let github = WebhookSecret {
        value: secrets.github_webhook_secret.clone(),
        env_var: context.config.github.webhook_secret_env.clone(),
        config_key: "github.webhook_secret_env".to_owned(),
    };
    let slack = WebhookSecret {
        value: secrets.slack_signing_secret.clone(),
        env_var: context.config.slack.signing_secret_env.clone(),
        config_key: "slack.signing_secret_env".to_owned(),
    };
    for (service, secret) in [("Linear", &linear), ("GitHub", &github), ("Slack", &slack)] {
        if secret.value.is_none() {
            warn!(
                env_var = %secret.env_var,
                "{service} webhooks will be refused with 503 until {} is set",
                secret.env_var
            );
        }
    }
    ServerSettings::new(linear, github, slack)
}

/// Resolves on SIGTERM (how service managers stop the daemon) or SIGINT (Ctrl-C), naming
/// which arrived.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        },
        Err(error) => {
            warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the daemon");
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}
