//! `/metrics`, `/healthz` and `/readyz` on one port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use kube::runtime::reflector::Store;
use tokio::sync::OnceCell;

use super::metrics::Metrics;
use crate::api::FlowLogPolicySet;

/// What the probes report. Readiness: credentials have produced a token, and — on the leader — the watch
/// cache has synced. A standby replica (not leading) is ready once it has a token: it is healthy, only idle.
#[derive(Default)]
pub struct Health {
    pub token_ok: AtomicBool,
    pub leading: AtomicBool,
    pub cache_synced: AtomicBool,
    /// The controller's watch cache, for the per-condition policy gauge.
    pub store: OnceCell<Store<super::CachedPolicy>>,
    /// The set controller's watch cache, for the per-set target gauge.
    pub sets: OnceCell<Store<FlowLogPolicySet>>,
}

impl Health {
    fn ready(&self) -> Result<(), &'static str> {
        if !self.token_ok.load(Ordering::Relaxed) {
            return Err("no Azure token yet");
        }
        if self.leading.load(Ordering::Relaxed) && !self.cache_synced.load(Ordering::Relaxed) {
            return Err("watch cache not synced");
        }
        Ok(())
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(AppState { metrics, health });
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("metrics server stopped: {e}");
        }
    });
    Ok((bound, handle))
}

async fn metrics_handler(State(s): State<AppState>) -> ([(&'static str, &'static str); 1], String) {
    let policies = s.health.store.get().map(|store| store.state()).unwrap_or_default();
    let sets = s.health.sets.get().map(|store| store.state()).unwrap_or_default();
    let body = s.metrics.render(policies.iter().map(|p| p.as_ref()), sets.iter().map(|s| s.as_ref()));
    ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
}

async fn readyz(State(s): State<AppState>) -> (StatusCode, &'static str) {
    match s.health.ready() {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}
