//! The HTTP server: axum on the vault. The routes are in [`crate::api`].

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::MatchedPath;
use axum::http::Request;
use cartable_vault::Vault;
use tower_http::trace::TraceLayer;

use crate::api::ApiSettings;
use crate::config::Config;

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
    crate::api::router(vault, settings).layer(trace)
}

/// Opens the vault and serves until interrupted.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let settings = config.api.clone();
    let vault = Vault::open(config.vault.clone()).await?;
    let addr: SocketAddr = config.listen.parse().with_context(|| format!("`{}` is not an address to listen on", config.listen))?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    // Tests and scripts read this line to find the port when listening on :0.
    println!("listening on http://{local}");
    tracing::info!(%local, "cartable serving");
    // Small responses on kept-alive connections stall ~40 ms each without TCP_NODELAY.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router_with(vault, settings).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
