//! The HTTP server: axum's router on the vault, served connection by connection with hyper, so that a client
//! cannot hold a connection by sending its request slowly. The routes are in [`crate::api`].
//!
//! - Each accepted connection takes a permit of a semaphore of `max_connections`; beyond it, the accept loop
//!   waits (new connections queue in the kernel's backlog) until one closes.
//! - Request heads (request line and headers) must arrive within `header_read_timeout`, counted from the moment
//!   the server starts reading a head: on a new connection and between requests of a kept-alive one. It does not
//!   apply to bodies or to the time a handler takes, so a 30 s long poll is not cut.
//! - A request body must bring its next bytes within `body_idle_timeout`: an upload may take as long as it needs,
//!   but a body that stalls is ended (its handler answers 400), so trickled bodies cannot hold the connections.
//! - HTTP/1.1 only: the SDK and browsers in front of a proxy speak it, and hyper's HTTP/2 (and its protocol
//!   sniffing) has no such timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath};
use axum::http::Request;
use cartable_vault::Vault;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;
use axum::http::{HeaderValue, header};
use tower_http::trace::TraceLayer;

use crate::api::ApiSettings;
use crate::config::Config;

/// How the server treats connections; passed explicitly.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The longest a client may take to send a request's line and headers.
    pub header_read_timeout: Duration,
    /// The longest a request body may go without sending anything.
    pub body_idle_timeout: Duration,
    /// How many connections are served at once.
    pub max_connections: usize,
    /// How long in-flight requests may run on after an interruption (ctrl-c).
    pub shutdown_grace: Duration,
}

impl ServerSettings {
    pub fn standard() -> Self {
        ServerSettings {
            header_read_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(30),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(35),
        }
    }
}

/// The application's routes on an opened vault, with the standard API settings.
pub fn router(vault: Vault) -> Router {
    router_with(vault, ApiSettings::standard())
}

/// The application's routes on an opened vault.
pub fn router_with(vault: Vault, settings: ApiSettings) -> Router {
    // Logged: method, route template (never the concrete path or query, which may carry a file's name), status
    // and latency, at debug level.
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<_>| {
            let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "-".to_owned());
            tracing::debug_span!("request", method = %req.method(), route)
        })
        .on_request(())
        .on_response(|res: &axum::http::Response<_>, latency: Duration, _span: &tracing::Span| {
            tracing::debug!(status = res.status().as_u16(), micros = latency.as_micros() as u64, "answered");
        })
        .on_failure(());
    let state = crate::api::ApiState::new(vault, settings);
    crate::api::routes(state.clone())
        .merge(crate::web::routes(state))
        .fallback(fallback)
        // A known path with another method: the API's JSON error (axum's default is an empty 405).
        .method_not_allowed_fallback(|| async { crate::api::method_not_allowed() })
        // One synchronous step for the three headers (three layers cost a quarter of a small response's time).
        .layer(tower::util::MapResponseLayer::new(security_headers))
        .layer(trace)
}

/// Paths nobody serves: the API's JSON error under `/api/`, a page elsewhere.
async fn fallback(method: axum::http::Method, uri: axum::http::Uri, headers: axum::http::HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if uri.path().starts_with("/api/") {
        return crate::api::not_found().into_response();
    }
    if method != axum::http::Method::GET && method != axum::http::Method::HEAD {
        return crate::api::method_not_allowed().into_response();
    }
    crate::web::not_found(&headers)
}

/// Adds the security headers to a response that has not set its own.
fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

/// On every response: no script or style from elsewhere and no inline script (the pages have none), never in a
/// frame, no referrer (invitation links carry their token in the path), no content sniffing.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Opens the vault and serves until interrupted.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let settings = config.api.clone();
    let vault = Vault::open(config.vault.clone()).await?;
    let addr: SocketAddr = config.listen.parse().with_context(|| format!("`{}` is not an address to listen on", config.listen))?;
    let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    // Tests and scripts read this line to find the port when listening on :0.
    println!("listening on http://{local}");
    tracing::info!(%local, "cartable serving");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    // Notifications: grants ending are looked for, and e-mails sent when SMTP is configured (never in the way of
    // a request; they stop with the process).
    let sweeper = tokio::spawn(crate::notify::run_sweeper(vault.clone(), config.notify.clone()));
    let mailer = config.notify.mail.clone().map(|mail| tokio::spawn(crate::notify::run_mailer(vault.clone(), mail)));
    serve_on(listener, router_with(vault.clone(), settings), &config.server, shutdown).await?;
    sweeper.abort();
    if let Some(mailer) = mailer {
        mailer.abort();
    }
    // A clean stop gives up the search index leases: the next start keeps the indexes at once.
    vault.close().await?;
    Ok(())
}

/// Serves `app` on `listener` until `shutdown` completes, then lets in-flight requests finish (for at most
/// `shutdown_grace`).
pub async fn serve_on(listener: TcpListener, app: Router, settings: &ServerSettings, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let app = app.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(settings.body_idle_timeout));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(settings.header_read_timeout);
    let http = Arc::new(http);
    let slots = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // A free slot first, then the next connection: beyond the cap, connections wait in the backlog.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the connection semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small responses on kept-alive connections stall ~40 ms each without TCP_NODELAY.
        let _ = stream.set_nodelay(true);
        // The handlers see the peer address as with axum's own server (the sign-in limiter counts by it).
        let service = app.clone().map_request(move |mut request: Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Timeouts and clients that go away end here; nothing about them is worth more than a debug line.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("interrupted: finishing the requests in flight");
    if tokio::time::timeout(settings.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("some requests were still running at shutdown");
    }
    Ok(())
}
