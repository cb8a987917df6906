//! Ctrl-C and SIGTERM for the whole process. The first one asks the command to stop the way
//! it stops cleanly (the squad runtime checkpoints: its model calls in flight are dropped and
//! every squad resumes from its recorded phase on the next start); a second one exits at once,
//! for a person who will not wait for the checkpoint.
//!
//! The signals are watched by one listener for the life of the process, so a signal that
//! arrives while nobody is waiting for it (between two polls of a progress loop) is not lost,
//! and once the first has been taken the second is still caught.

use std::io::Write as _;
use std::sync::OnceLock;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

/// The name of the first stop signal, once one arrived.
static FIRST: OnceLock<watch::Receiver<Option<&'static str>>> = OnceLock::new();

/// Starts watching SIGINT and SIGTERM, once per process (later calls do nothing). Call it
/// before work starts that a signal should stop cleanly: from then on a signal no longer
/// kills the process but is waited for with [`requested`]. Must be called within the
/// runtime.
pub fn watch() {
    let _ = first();
}

fn first() -> watch::Receiver<Option<&'static str>> {
    FIRST
        .get_or_init(|| {
            let (said, heard) = watch::channel(None);
            // Registered here, before any await, so nothing arriving from now on is missed.
            let interrupt = listen(SignalKind::interrupt(), "SIGINT");
            let terminate = listen(SignalKind::terminate(), "SIGTERM");
            tokio::spawn(async move {
                let (mut interrupt, mut terminate) = (interrupt, terminate);
                loop {
                    let name = tokio::select! {
                        Some(()) = next(&mut interrupt) => "SIGINT",
                        Some(()) = next(&mut terminate) => "SIGTERM",
                        else => return,
                    };
                    if said.borrow().is_some() {
                        exit_at_once(name);
                    }
                    said.send_replace(Some(name));
                }
            });
            heard
        })
        .clone()
}

/// Resolves when the first SIGINT or SIGTERM arrived (at once when one already did), naming
/// it. Starts watching the signals if nothing did yet.
pub async fn requested() -> &'static str {
    let mut heard = first();
    let name = heard
        .wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|name| *name);
    match name {
        Some(name) => name,
        // The listener ended: it could watch neither signal, so none will come.
        None => std::future::pending().await,
    }
}

fn listen(kind: SignalKind, name: &str) -> Option<Signal> {
    match signal(kind) {
        Ok(listener) => Some(listener),
        Err(error) => {
            tracing::warn!(signal = name, %error, "cannot listen for the signal; it stops the process at once");
            None
        }
    }
}

async fn next(listener: &mut Option<Signal>) -> Option<()> {
    match listener {
        Some(listener) => listener.recv().await,
        None => None,
    }
}

/// A second stop signal: the person does not want to wait for the checkpoint. What the
/// store holds stays consistent (every change is a transaction), so the squads resume from
/// their last recorded phase.
fn exit_at_once(name: &str) -> ! {
    let _ = writeln!(
        std::io::stderr(),
        "{name} again: exiting at once; every squad resumes from its last recorded phase on the next start"
    );
    let code = if name == "SIGTERM" { 143 } else { 130 };
    std::process::exit(code)
}
