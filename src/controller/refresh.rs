//! The watchers' refresher: one list per subscribed watcher and period, and a re-check of only the policies whose
//! target's flow log changed. It also starts the re-checks planned far ahead when they are due, and sweeps what the
//! context keeps for a short while.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::reflector::ObjectRef;
use tracing::warn;

use super::Context;

/// Lists each subscribed watcher once per period and re-checks the policies whose target's flow log changed: the
/// steady state costs one list per watcher and interval, and no reconcile of the policies it leaves alone.
pub(super) async fn refresh_watchers(ctx: Arc<Context>) {
    let mut swept = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        for (namespace, name) in ctx.rechecks.due(tokio::time::Instant::now()) {
            let _ = ctx.retrigger.unbounded_send(ObjectRef::new(&name).within(&namespace));
        }
        if swept.elapsed() >= Duration::from_secs(5) {
            ctx.sweep();
            swept = Instant::now();
        }
        for (arm, watcher) in ctx.index.due() {
            match ctx.index.refresh(&arm, &watcher).await {
                Ok(changed) => {
                    let policies: Vec<(String, String)> = {
                        let targets = ctx.targets.lock().expect("not poisoned");
                        changed.iter().flat_map(|target| targets.of_target(target)).collect()
                    };
                    for (namespace, name) in policies {
                        let _ = ctx.retrigger.unbounded_send(ObjectRef::new(&name).within(&namespace));
                    }
                }
                Err(e) => warn!(watcher = %watcher, "listing the watcher's flow logs: {e}"),
            }
        }
    }
}
