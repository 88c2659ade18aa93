//! A hook for metrics: the client reports every HTTP request it makes and every wait its throttling
//! imposes. The operator's Prometheus exporter implements [`ArmObserver`]; the default does nothing.

use std::time::Duration;

/// Receives one call per HTTP request (ARM, token endpoint, IMDS) and one per throttling wait.
///
/// Operation names: `token`, `queryFlowLogStatus`, `configureFlowLog`, `getFlowLog`, `putFlowLog`,
/// `deleteFlowLog`, `listFlowLogs`, `listNetworkWatchers`, `getResource`, `getProvider`, `registerProvider`,
/// `operationStatus` (an `Azure-AsyncOperation` poll), `operationResult` (a `Location` poll).
/// Implementations must be cheap and must not block: they run on the request path.
pub trait ArmObserver: Send + Sync {
    /// One HTTP request finished: its HTTP status, or 0 when no answer came (connection refused or reset,
    /// timeout, DNS, TLS). `elapsed` runs from sending to the response headers.
    fn request(&self, operation: &str, status: u16, elapsed: Duration);

    /// The client waited `waited` before a request to `subscription` because of a request budget, a low
    /// `x-ms-ratelimit-remaining-*` header or a `429` with `Retry-After`.
    fn throttled(&self, subscription: &str, waited: Duration);
}

/// The default observer: ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopObserver;

impl ArmObserver for NoopObserver {
    fn request(&self, _operation: &str, _status: u16, _elapsed: Duration) {}
    fn throttled(&self, _subscription: &str, _waited: Duration) {}
}
