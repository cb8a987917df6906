//! The daemon's connections: one accept loop per listener over hyper's HTTP/1, so that no
//! client can hold the daemon's sockets or descriptors.
//!
//! - A **header-read timeout**: a connection must send a request's headers within it of
//!   opening or of its previous response ending (hyper restarts the timer when a kept-alive
//!   connection goes idle), so a silent or trickling client is closed.
//! - A **connection cap** per listener, kept below the process's open-file limit: when it is
//!   full, the connection that has been idle the longest (no request in flight) is closed to
//!   make room, and only when every connection is busy is the newcomer turned away. Two
//!   thousand idle sockets cannot keep a signed Slack command out.
//! - On shutdown, the loop stops accepting and asks every connection to finish its request
//!   in flight and close; the caller's shutdown signal also ends the event streams.
//!
//! The per-request timeout is a middleware of the router (see `app.rs`).

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::Request;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::{debug, warn};

/// Descriptors kept free of connections for the store, model and GitHub clients, git
/// children and log files.
const RESERVED_DESCRIPTORS: u64 = 256;

/// The fewest connections a listener allows, however low the open-file limit.
const MIN_CONNECTIONS: usize = 16;

/// How one listener treats its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransportLimits {
    /// How long a client may take to send a request's headers, from the connection's start
    /// or its previous response.
    pub header_read_timeout: Duration,
    /// How long a request may take to be answered.
    pub request_timeout: Duration,
    /// Connections open at once per listener, at most.
    pub max_connections: usize,
}

impl Default for TransportLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Raises the soft open-file limit to the hard one (as Go's runtime does) and returns how
/// many connections each of `listeners` may hold: the configured cap, lowered to fit the
/// limit with [`RESERVED_DESCRIPTORS`] to spare.
pub(crate) fn connection_budget(configured: usize, listeners: usize) -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let soft = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(error) => {
                warn!(%error, soft, hard, "could not raise the open-file limit");
                soft
            }
        },
        Ok((soft, _)) => soft,
        Err(error) => {
            warn!(%error, "could not read the open-file limit; assuming 1024");
            1024
        }
    };
    let per_listener = soft.saturating_sub(RESERVED_DESCRIPTORS) / listeners.max(1) as u64;
    let budget = usize::try_from(per_listener)
        .unwrap_or(usize::MAX)
        .clamp(MIN_CONNECTIONS, configured.max(MIN_CONNECTIONS));
    if budget < configured {
        warn!(
            open_file_limit = soft,
            configured, budget, "the open-file limit lowers the connection cap; raise `ulimit -n`"
        );
    }
    budget
}

/// One open connection as the cap sees it.
#[derive(Debug)]
struct Tracked {
    /// Requests in flight, counting a response body still being sent.
    in_flight: Arc<AtomicUsize>,
    /// When the connection last became idle (or opened).
    idle_since: Arc<Mutex<Instant>>,
    /// Closes the connection at once (it is idle: no request was dispatched).
    evict: Arc<Notify>,
}

/// The open connections of one listener.
#[derive(Debug, Default)]
struct Registry {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Tracked>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Tracked>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes room for one more connection under `cap`: closes the longest-idle one if the
    /// listener is full. `false` when every connection is busy.
    fn make_room(&self, cap: usize) -> bool {
        let mut open = self.lock();
        if open.len() < cap {
            return true;
        }
        let idlest = open
            .iter()
            .filter(|(_, tracked)| tracked.in_flight.load(Ordering::Acquire) == 0)
            .min_by_key(|(_, tracked)| {
                *tracked
                    .idle_since
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
            })
            .map(|(id, _)| *id);
        let Some(evicted) = idlest.and_then(|id| open.remove(&id)) else {
            return false;
        };
        // Its task drops the socket at once; a partly sent request head is abandoned.
        evicted.evict.notify_one();
        true
    }

    fn add(&self) -> (u64, Tracked) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tracked = Tracked {
            in_flight: Arc::new(AtomicUsize::new(0)),
            idle_since: Arc::new(Mutex::new(Instant::now())),
            evict: Arc::new(Notify::new()),
        };
        let handle = Tracked {
            in_flight: Arc::clone(&tracked.in_flight),
            idle_since: Arc::clone(&tracked.idle_since),
            evict: Arc::clone(&tracked.evict),
        };
        self.lock().insert(id, tracked);
        (id, handle)
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }
}

/// Marks a request in flight until dropped (with the response body, once it is sent).
#[derive(Debug)]
struct InFlight {
    count: Arc<AtomicUsize>,
    idle_since: Arc<Mutex<Instant>>,
}

impl InFlight {
    fn start(count: &Arc<AtomicUsize>, idle_since: &Arc<Mutex<Instant>>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self {
            count: Arc::clone(count),
            idle_since: Arc::clone(idle_since),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self
                .idle_since
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        }
    }
}

/// A response body that keeps its request counted in flight until it has been sent (an
/// event stream is busy for as long as it streams).
struct CountedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl HttpBody for CountedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `router` on `listener` within `limits` (its cap already fitted to the open-file
/// limit) until `stopping` turns true, then lets every connection finish and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: TransportLimits,
    mut stopping: watch::Receiver<bool>,
) -> io::Result<()> {
    let registry = Arc::new(Registry::default());
    let mut connections = JoinSet::new();
    let mut refused: u64 = 0;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopping.wait_for(|stop| *stop) => break,
        };
        // Reap finished connection tasks so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors or a connection reset before it was accepted: both pass.
                warn!(%error, "could not accept a connection");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                    _ = stopping.wait_for(|stop| *stop) => break,
                }
            }
        };
        if !registry.make_room(limits.max_connections) {
            refused += 1;
            if refused.is_power_of_two() {
                warn!(
                    %peer,
                    refused,
                    cap = limits.max_connections,
                    "every connection is busy; turning new ones away"
                );
            }
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let (id, tracked) = registry.add();
        let registry = Arc::clone(&registry);
        let router = router.clone();
        let stopping = stopping.clone();
        connections.spawn(async move {
            serve_connection(stream, router, limits, &tracked, stopping).await;
            registry.remove(id);
        });
    }
    // Every connection saw `stopping` too: each finishes its request in flight and closes.
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    router: Router,
    limits: TransportLimits,
    tracked: &Tracked,
    mut stopping: watch::Receiver<bool>,
) {
    let (in_flight, idle_since) = (
        Arc::clone(&tracked.in_flight),
        Arc::clone(&tracked.idle_since),
    );
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let guard = InFlight::start(&in_flight, &idle_since);
        let mut router = router.clone();
        async move {
            let request: Request = request.map(Body::new);
            let response = tower::Service::call(&mut router, request).await?;
            Ok::<_, std::convert::Infallible>(response.map(|inner| {
                Body::new(CountedBody {
                    inner,
                    _in_flight: guard,
                })
            }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = tracked.evict.notified() => return,
        () = async {
            let _ = stopping.wait_for(|stop| *stop).await;
        } => {
            // Finishes a request in flight, then closes; an idle connection closes at once.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        debug!(%error, "connection ended with an error");
    }
}
