//! The HTTP server: axum on the vault.

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use cartable_vault::Vault;

use crate::config::Config;

/// The application's routes on an opened vault.
pub fn router(vault: Vault) -> Router {
    Router::new().route("/healthz", get(|| async { "ok" })).with_state(vault)
}

/// Opens the vault and serves until interrupted.
pub async fn serve(config: Config) -> anyhow::Result<()> {
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
    axum::serve(listener, router(vault).into_make_service())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
