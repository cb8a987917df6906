//! `squadron serve`: the daemon. Resumes every unfinished squad from the store, runs the
//! scheduler, and serves the API, webhooks, metrics and dashboard until SIGTERM or SIGINT;
//! then stops accepting, lets in-flight work checkpoint, and exits 0. A service that is
//! down at start does not keep it from serving: it says so on `/readyz` and the dashboard
//! and starts the runtime once the service answers. It registers with the store under its
//! daemon id (`membership.rs`), beats while it runs and records when it stops. The daemons
//! of a PostgreSQL store share its squads, each claiming its share squad by squad
//! (`squad_claims.rs`); on SQLite, or with `server.share_squads = false`, one runs the
//! squads under the runtime lease and the others serve reads, hand the work they are asked
//! for to it through the store, and stand by to take over (`runtime_lease.rs`). SIGTERM
//! hands the leases over after the checkpoint; a daemon that lost the runtime lease exits
//! with 75.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use squadron::server::{
    self, ControlAccess, DaemonControl, Listeners, PageLinks, Readiness, Server, ServerControl,
    ServerSettings, SlackFixPolicy, TransportLimits, WebhookSecret,
};
use squadron_config::{ControlListen, Secrets};
use squadron_core::Usd;
use squadron_core::lease::LeaseLost;
use squadron_core::ports::Clock;
use squadron_store::{SqlStore, StoreLocation};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::cli::{GlobalArgs, ServeArgs};
use crate::commands::revert::DaemonReverts;
use crate::context::Context;
use crate::error::{CliError, ErrorClass, error_chain};
use crate::format::now;
use crate::membership::{self, Membership, daemon_id};
use crate::runtime_lease::RuntimeLease;
use crate::squad_claims::SquadClaims;
use crate::wiring::{SystemClock, build_pipeline_reporting, code_host, linear_client, review_mode};

/// Loads the configuration, opens the store, starts the runtime and serves until a signal.
pub async fn run(global: &GlobalArgs, args: &ServeArgs) -> Result<ExitCode, CliError> {
    let context = Context::load(global)?;
    // Before anything is opened: a daemon that would expose its control API refuses now.
    let secrets = context.config.resolve_secrets(&context.env);
    check_exposure(
        args.listen.unwrap_or(context.config.server.listen),
        args.control_listen
            .unwrap_or(context.config.server.control_listen),
        &control_access(&context, &secrets),
    )?;
    let store = Arc::new(context.open_store().await?);
    let terms = membership::terms(&context.config);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let membership = Membership::join(
        daemon_id(&context.config),
        Arc::clone(&store),
        Arc::clone(&clock),
        terms,
    )
    .await?;
    let daemon = membership.id().clone();
    let postgres = matches!(store.location(), StoreLocation::Postgres(_));
    let duty = if context.config.server.shares_squads(postgres) {
        let concurrency = usize::try_from(context.config.limits.concurrency).unwrap_or(usize::MAX);
        Duty::Squads(Arc::new(SquadClaims::new(
            daemon,
            &store,
            clock,
            terms,
            concurrency,
        )))
    } else {
        Duty::Runtime(Arc::new(RuntimeLease::new(daemon, &store, clock, terms)))
    };
    let served = serve(context, store, duty, args.listen, args.control_listen).await;
    membership.leave().await;
    served
}

/// How this daemon shares the work of its store with the other daemons.
pub enum Duty {
    /// One daemon runs every squad under the store's runtime lease; the others stand by:
    /// the default on SQLite, or `server.share_squads = false`.
    Runtime(Arc<RuntimeLease>),
    /// Every daemon claims its share of the squads, one lease per squad: the default on
    /// PostgreSQL (`server.share_squads`).
    Squads(Arc<SquadClaims>),
}

impl Duty {
    fn daemon(&self) -> &squadron_core::lease::DaemonId {
        match self {
            Duty::Runtime(lease) => lease.daemon(),
            Duty::Squads(claims) => claims.daemon(),
        }
    }

    /// Hands this daemon's work over, once its runtime checkpointed.
    async fn release(&self) {
        match self {
            Duty::Runtime(lease) => lease.release().await,
            Duty::Squads(claims) => claims.release().await,
        }
    }
}

/// Serves, as daemon `daemon`, the webhooks on `listen` (default: `server.listen`) and the control routes on
/// `control_listen` (default: `server.control_listen`) until SIGTERM or SIGINT, or until the
/// runtime stops on its own (then exits with its failure).
///
/// The runtime needs GitHub to start (it resolves the reviewers' identities). When GitHub
/// does not answer, the daemon serves anyway: reads, `/healthz` and the dashboard work,
/// `/readyz` says what is down, work is refused with 503, and the runtime is started in
/// the background as soon as GitHub answers. A configuration the runtime refuses (a
/// refused token, no sandbox) still fails at once.
pub async fn serve(
    context: Context,
    store: Arc<SqlStore>,
    duty: Duty,
    listen: Option<SocketAddr>,
    control_listen: Option<ControlListen>,
) -> Result<ExitCode, CliError> {
    let secrets = context.config.resolve_secrets(&context.env);
    let settings = server_settings(&context, &secrets);
    let address = listen.unwrap_or(context.config.server.listen);
    let control_listen = control_listen.unwrap_or(context.config.server.control_listen);
    check_exposure(address, control_listen, &settings.control)?;
    // From here a stop signal checkpoints the runtime, and a second one exits at once.
    crate::interrupt::watch();
    let webhooks = bind(address, "--listen or `server.listen`").await?;
    let listeners = match control_listen {
        ControlListen::Shared => Listeners::shared(webhooks),
        ControlListen::Own(control) => Listeners::split(
            webhooks,
            bind(control, "--control-listen or `server.control_listen`").await?,
        ),
    };

    let readiness = Readiness::new();
    let control =
        DaemonControl::waiting(Some(duty.daemon().clone()), Arc::clone(&store), "starting");
    control.know_repositories(squadron::delivery::team_repositories(&context.config));
    let context = Arc::new(context);
    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel();
    let holding = match &duty {
        Duty::Runtime(lease) => {
            // While another daemon runs the squads, work asked of this one goes to it.
            control.forward_to_runner(Arc::new(SystemClock));
            hold_runtime(&context, &control, &readiness, lease, lost_tx).await?
        }
        Duty::Squads(claims) => {
            // A cancellation or a GitHub delivery for squads another daemon holds goes to it.
            control.answer_for_holders(Arc::new(SystemClock));
            // Every daemon runs its runtime and works the squads it claims; the runtime
            // writes through the store fenced squad by squad.
            let runtime_store = Arc::new(claims.store().clone());
            start_or_retry(&context, runtime_store, &control, &readiness).await?;
            let claims = Arc::clone(claims);
            let control = Arc::clone(&control);
            tokio::spawn(async move {
                if let Some(handle) = control.started_runtime().await {
                    claims.keep(handle).await;
                }
            })
        }
    };
    tokio::spawn(probe_services(
        Arc::clone(&context),
        Arc::clone(&control),
        readiness.clone(),
    ));

    let runtime_stopped = control.stopped();
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel();
    let (lost_said_tx, lost_said_rx) = tokio::sync::oneshot::channel();
    let shutdown = async move {
        tokio::select! {
            signal = shutdown_signal() => info!(signal, "received a shutdown signal"),
            failure = runtime_stopped => {
                // The runtime ended without being asked: serving on would accept runs that
                // nothing executes.
                let _ = failed_tx.send(failure);
            }
            Ok(lost) = lost_rx => {
                // Another daemon runs the squads now; whatever this one still tries for them
                // is refused. Stop, so a service manager starts it again as a standby.
                let _ = lost_said_tx.send(lost);
            }
        }
    };
    let control: Arc<dyn ServerControl> = control;
    // `/squad revert` needs no runtime: this daemon carries it out with the store it reads.
    let reverts = Arc::new(DaemonReverts {
        store: Arc::clone(&store),
    });
    let server = Server::new(control, Arc::new(SystemClock), settings)
        .with_readiness(readiness)
        .with_reverts(reverts);
    let served = server::run(listeners, server, shutdown).await;
    // The runtime checkpointed (or never ran): hand the squads over at once, and claim
    // nothing more on the way out.
    holding.abort();
    duty.release().await;
    served.map_err(|error| CliError::transient(format!("failed to {}", error_chain(&error))))?;

    if let Ok(lost) = lost_said_rx.await {
        return Err(
            CliError::transient(format!("stopped running the squads: {lost}"))
                .with_hint("another daemon took the store over; start this one again to stand by"),
        );
    }
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

/// The first wait between attempts to start the runtime; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(1);
/// The longest wait between attempts to start the runtime.
const RETRY_MAX: Duration = Duration::from_secs(30);
/// How often the services are checked once the daemon runs.
const PROBE_EVERY: Duration = Duration::from_secs(30);

/// Builds the runtime and starts it behind `control`, recording GitHub's state (the build
/// resolves the reviewers' identities there), the runtime's, and where to read the
/// adapters' rate-limit state.
async fn start_runtime(
    context: &Context,
    store: &Arc<SqlStore>,
    control: &DaemonControl,
    readiness: &Readiness,
) -> Result<(), CliError> {
    match build_pipeline_reporting(context, Arc::clone(store)).await {
        Ok((pipeline, limits)) => {
            readiness.read_rate_limits(move || limits.read());
            readiness.record("github", true, "the reviewers' identities resolved", now());
            if control.start(pipeline) {
                readiness.record("runtime", true, "running", now());
            }
            Ok(())
        }
        Err(error) => {
            let message = error.message().to_owned();
            if message.contains("GitHub") {
                readiness.record("github", false, message.clone(), now());
            }
            readiness.record("runtime", false, format!("not started: {message}"), now());
            control.still_waiting(message);
            Err(error)
        }
    }
}

/// Tries to start the runtime again, backing off, until it starts or the daemon stops. A
/// failure that is not transient (a refused token) is recorded and retried at the longest
/// wait: the operator sees it on `/readyz` and may fix it without a restart.
async fn retry_start(
    context: Arc<Context>,
    store: Arc<SqlStore>,
    control: Arc<DaemonControl>,
    readiness: Readiness,
    first_failure: String,
) {
    let mut wait = RETRY_FIRST;
    let mut failure = first_failure;
    loop {
        control.still_waiting(format!("{failure}; trying again in {}s", wait.as_secs()));
        tokio::time::sleep(wait).await;
        match start_runtime(&context, &store, &control, &readiness).await {
            Ok(()) => {
                info!("the services answer: the squad runtime started");
                return;
            }
            Err(error) => {
                warn!(error = %error.message(), "the squad runtime still cannot start");
                failure = error.message().to_owned();
                wait = if error.class() == ErrorClass::Transient {
                    (wait * 2).min(RETRY_MAX)
                } else {
                    RETRY_MAX
                };
            }
        }
    }
}

/// Runs the squads of the store when this daemon holds the runtime lease, else stands by to
/// take it over; the task returned keeps or awaits the lease and says on `lost` when it is
/// lost.
async fn hold_runtime(
    context: &Arc<Context>,
    control: &Arc<DaemonControl>,
    readiness: &Readiness,
    lease: &Arc<RuntimeLease>,
    lost: tokio::sync::oneshot::Sender<LeaseLost>,
) -> Result<tokio::task::JoinHandle<()>, CliError> {
    // The runtime writes through the store fenced by the runtime lease.
    let runtime_store = Arc::new(lease.store().clone());
    if !lease.try_acquire(control).await? {
        info!(daemon = %lease.daemon(), "standing by: another daemon runs the squads of this store");
        readiness.record("runtime", false, "standing by for another daemon", now());
        return Ok(tokio::spawn(stand_by(
            Arc::clone(context),
            runtime_store,
            Arc::clone(control),
            readiness.clone(),
            Arc::clone(lease),
            lost,
        )));
    }
    // Renewed from now on: building the runtime (the sandbox, the reviewers' identities)
    // may take longer than the lease on a loaded machine.
    let keeping = tokio::spawn(keep_lease(Arc::clone(lease), lost));
    if let Err(error) = start_or_retry(context, runtime_store, control, readiness).await {
        keeping.abort();
        lease.release().await;
        return Err(error);
    }
    Ok(keeping)
}

/// Starts the runtime writing through `store`; when a service it needs does not answer,
/// keeps trying in the background and serves meanwhile.
///
/// # Errors
/// A configuration the runtime refuses (a refused token, no sandbox).
async fn start_or_retry(
    context: &Arc<Context>,
    store: Arc<SqlStore>,
    control: &Arc<DaemonControl>,
    readiness: &Readiness,
) -> Result<(), CliError> {
    match start_runtime(context, &store, control, readiness).await {
        Ok(()) => Ok(()),
        Err(error) if error.class() == ErrorClass::Transient => {
            warn!(
                error = %error.message(),
                "serving without the squad runtime until the services answer; retrying in the background"
            );
            tokio::spawn(retry_start(
                Arc::clone(context),
                store,
                Arc::clone(control),
                readiness.clone(),
                error.message().to_owned(),
            ));
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// Keeps the runtime lease renewed; says when it is lost.
async fn keep_lease(lease: Arc<RuntimeLease>, lost: tokio::sync::oneshot::Sender<LeaseLost>) {
    let why = lease.keep().await;
    tracing::error!(reason = %why, "this daemon lost the squad runtime to another daemon");
    let _ = lost.send(why);
}

/// Stands by until this daemon holds the runtime lease, then starts the runtime (which
/// resumes every unfinished squad) and keeps the lease.
async fn stand_by(
    context: Arc<Context>,
    store: Arc<SqlStore>,
    control: Arc<DaemonControl>,
    readiness: Readiness,
    lease: Arc<RuntimeLease>,
    lost: tokio::sync::oneshot::Sender<LeaseLost>,
) {
    lease.stand_by(&control).await;
    info!(daemon = %lease.daemon(), "taking over the squads of this store");
    control.still_waiting("taking over the squads of this store: starting the squad runtime");
    // The lease is renewed while the runtime is built, which may take longer than the
    // lease on a loaded machine: a lapse then would show this daemon standing by and let
    // another take the store over from under a runtime just started.
    let starting = async {
        if let Err(error) = start_runtime(&context, &store, &control, &readiness).await {
            warn!(error = %error.message(), "the squad runtime cannot start yet; retrying");
            tokio::spawn(retry_start(
                Arc::clone(&context),
                Arc::clone(&store),
                Arc::clone(&control),
                readiness.clone(),
                error.message().to_owned(),
            ));
        }
    };
    tokio::join!(starting, keep_lease(Arc::clone(&lease), lost));
}

/// Checks Linear (and GitHub once the runtime runs) every [`PROBE_EVERY`], so `/readyz`
/// and the dashboard show a service that went away.
async fn probe_services(context: Arc<Context>, control: Arc<DaemonControl>, readiness: Readiness) {
    let config = &context.config;
    let secrets = config.resolve_secrets(&context.env);
    loop {
        match linear_client(config, &secrets) {
            Ok(linear) => match tokio::time::timeout(PROBE_TIMEOUT, linear.viewer()).await {
                Ok(Ok(viewer)) => {
                    readiness.record(
                        "linear",
                        true,
                        format!("authenticated as {}", viewer.name),
                        now(),
                    );
                }
                Ok(Err(error)) => readiness.record(
                    "linear",
                    false,
                    format!("failed to {}", error_chain(&error)),
                    now(),
                ),
                Err(_) => readiness.record(
                    "linear",
                    false,
                    format!(
                        "{} did not answer within {}s",
                        config.linear.api_url,
                        PROBE_TIMEOUT.as_secs()
                    ),
                    now(),
                ),
            },
            Err(error) => readiness.record("linear", false, error.message().to_owned(), now()),
        }
        if control.is_running()
            && let Ok(github) = code_host(config, &secrets)
        {
            match tokio::time::timeout(PROBE_TIMEOUT, review_mode(&github)).await {
                Ok(Ok(_)) => {
                    readiness.record("github", true, "the reviewers' identities resolved", now())
                }
                Ok(Err(error)) => {
                    readiness.record("github", false, error.message().to_owned(), now())
                }
                Err(_) => readiness.record(
                    "github",
                    false,
                    format!(
                        "{} did not answer within {}s",
                        config.github.api_url,
                        PROBE_TIMEOUT.as_secs()
                    ),
                    now(),
                ),
            }
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// How long one probe of a service may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

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
    let server = &context.config.server;
    let mut settings = ServerSettings::new(linear, github, slack);
    settings.control = control_access(context, secrets);
    settings.transport = TransportLimits {
        header_read_timeout: Duration::from_secs(server.header_read_timeout_secs),
        request_timeout: Duration::from_secs(server.request_timeout_secs),
        max_connections: usize::try_from(server.max_connections).unwrap_or(usize::MAX),
    };
    settings.slack_fix = SlackFixPolicy {
        users: context.config.slack.fix_users.clone(),
        channels: context.config.slack.fix_channels.clone(),
    };
    settings.links = PageLinks {
        github_web: context.config.github.git_url.as_str().to_owned(),
        repositories: context
            .config
            .repositories
            .iter()
            .map(|(team, repository)| {
                let repo = &repository.github;
                (team.clone(), format!("{}/{}", repo.owner(), repo.name()))
            })
            .collect(),
        linear_web: LINEAR_WEB.to_owned(),
    };
    settings.run_budget = Some(Usd::from_dollars(context.config.limits.budget_per_run_usd));
    settings.squad_budget = Some(Usd::from_dollars(
        context.config.limits.budget_per_squad_usd,
    ));
    settings
}

/// The control token and host names as configured.
fn control_access(context: &Context, secrets: &Secrets) -> ControlAccess {
    let server = &context.config.server;
    ControlAccess {
        token: secrets.control_token.clone(),
        token_env: server.control_token_env.clone(),
        hosts: server.control_hosts.clone(),
    }
}

async fn bind(address: SocketAddr, option: &str) -> Result<TcpListener, CliError> {
    TcpListener::bind(address).await.map_err(|error| {
        CliError::config(format!("failed to listen on {address}: {error}")).with_hint(format!(
            "pick a free address with {option} (e.g. 127.0.0.1:0 for any port)"
        ))
    })
}

/// Refuses to serve the control API where anyone who can reach it could start runs: on a
/// non-loopback address without the control token.
pub(crate) fn check_exposure(
    webhooks: SocketAddr,
    control: ControlListen,
    access: &ControlAccess,
) -> Result<(), CliError> {
    if access.token.is_some() {
        return Ok(());
    }
    let exposed = match control {
        ControlListen::Shared => webhooks,
        ControlListen::Own(address) => address,
    };
    if exposed.ip().is_loopback() {
        return Ok(());
    }
    let variable = &access.token_env;
    Err(CliError::config(format!(
        "failed to start: the control API (runs, dashboard, metrics) would listen on {exposed} \
         without a token, open to anyone who can reach it"
    ))
    .with_hint(format!(
        "set {variable} to a long random token (sent as `Authorization: Bearer <token>`), or \
         keep `server.control_listen` on a loopback address such as 127.0.0.1:8081"
    )))
}

/// Linear's web app, where issues are linked to.
const LINEAR_WEB: &str = "https://linear.app";

/// Resolves on SIGTERM (how service managers stop the daemon) or SIGINT (Ctrl-C), naming
/// which arrived; a second one exits at once ([`crate::interrupt`]).
pub(crate) async fn shutdown_signal() -> &'static str {
    crate::interrupt::requested().await
}
