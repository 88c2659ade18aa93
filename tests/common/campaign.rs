//! The fault campaign's pure parts: its fleet (inventory and policies), its seeded schedule of faults and the fault
//! rules they become, and the checks of what it recorded (ARM budgets over sampled counters, requests per policy
//! and minute). `tests/e2e_campaign.rs` runs it.

use std::collections::BTreeMap;
use std::time::Duration;

use flowlog_operator::api::{
    DeletionPolicy, FlowLogFormat, FlowLogPolicySpec, FlowLogSettings, FormatType, Mode, RetentionPolicy, SecretRef,
    Target,
};
use flowlog_simulator::inventory::{ServicePrincipal, Subnet, VirtualNetwork};
use flowlog_simulator::{self as simulator, FaultRule, Inventory};
use serde_json::json;

use super::fleet::{nsg_with_flow_log, regional_subscription};

pub const REGIONS: [(&str, &str); 2] = [("westeurope", "weu"), ("northeurope", "neu")];
/// The client ID of the team principal whose secret a credentials Secret holds.
pub const TEAM_CLIENT_ID: &str = "66666666-6666-6666-6666-666666666666";
/// The name of that Secret.
pub const TEAM_SECRET_NAME: &str = "campaign-team-credentials";
/// Every `TEAM_EVERY`-th policy signs in with the team Secret.
pub const TEAM_EVERY: usize = 8;

/// The fleet's storage account in `region`.
pub fn storage_id(region: &str) -> String {
    let short = REGIONS.iter().find(|(r, _)| *r == region).unwrap().1;
    format!(
        "/subscriptions/{}/resourceGroups/campaign-logging-rg/providers/Microsoft.Storage/storageAccounts/campaign{short}",
        simulator::DEFAULT_SUBSCRIPTION_ID
    )
}

pub struct CampaignTarget {
    pub id: String,
    pub region: &'static str,
    pub nsg: bool,
}

/// `n` targets in one subscription and two regions, every other one an NSG with a flow log (7 days), the others
/// virtual networks without one; long-running operations of one second (`Retry-After: 1`), lists in pages of 50,
/// ARM's throttling on. The built-in principal signs in with `operator_secret`, a team principal with
/// `team_secret`.
pub fn fleet(n: usize, operator_secret: &str, team_secret: &str) -> (Inventory, Vec<CampaignTarget>) {
    let builtin = Inventory::builtin();
    let mut inventory = Inventory { subscriptions: vec![], ..builtin.clone() };
    inventory.service_principals[0].client_secret = operator_secret.into();
    inventory.service_principals.push(ServicePrincipal {
        tenant_id: simulator::DEFAULT_TENANT_ID.into(),
        client_id: TEAM_CLIENT_ID.into(),
        client_secret: team_secret.into(),
        federated_credentials: vec![],
    });
    inventory.behaviour.page_size = 50;
    inventory.behaviour.lro.retry_after_seconds = 1;
    inventory.behaviour.lro.duration_ms = 1000;
    inventory.behaviour.lro.in_progress_polls = None;
    assert!(inventory.behaviour.throttling.enabled, "ARM's limits are on");
    let mut sub = regional_subscription(
        &builtin.subscriptions[0],
        &REGIONS,
        |short| format!("campaign{short}"),
        "campaign-logging-rg",
    );
    let mut targets = Vec::with_capacity(n);
    for i in 0..n {
        let (region, short) = REGIONS[(i / 2) % REGIONS.len()];
        let rg = format!("campaign-{short}-rg");
        let rg_path = format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Network",
            simulator::DEFAULT_SUBSCRIPTION_ID
        );
        if i.is_multiple_of(2) {
            let name = format!("nsg-{i:05}");
            sub.network_security_groups.push(nsg_with_flow_log(&name, &rg, region, &format!("campaign{short}"), 7));
            targets.push(CampaignTarget { id: format!("{rg_path}/networkSecurityGroups/{name}"), region, nsg: true });
        } else {
            let name = format!("vnet-{i:05}");
            let prefix = format!("10.{}.{}.0", (i / 256) % 200, i % 256);
            sub.virtual_networks.push(VirtualNetwork {
                name: name.clone(),
                resource_group: rg.clone(),
                location: region.into(),
                tags: Default::default(),
                address_prefixes: vec![format!("{prefix}/24")],
                subnets: vec![Subnet {
                    name: "app".into(),
                    address_prefix: format!("{prefix}/26"),
                    network_security_group: None,
                    network_security_group_resource_group: None,
                }],
            });
            targets.push(CampaignTarget { id: format!("{rg_path}/virtualNetworks/{name}"), region, nsg: false });
        }
    }
    inventory.subscriptions.push(sub);
    (inventory, targets)
}

/// Policy `i` of the fleet: on, the region's storage, `days` of retention, JSON v2, the watcher found by region;
/// every [`TEAM_EVERY`]-th signs in with the team's credentials Secret.
pub fn spec(i: usize, target: &CampaignTarget, days: i32, interval: Duration) -> FlowLogPolicySpec {
    FlowLogPolicySpec {
        target: Target { resource_id: target.id.clone() },
        network_watcher: None,
        credentials_ref: i.is_multiple_of(TEAM_EVERY).then(|| SecretRef { name: TEAM_SECRET_NAME.into() }),
        flow_log: FlowLogSettings {
            enabled: true,
            storage_id: Some(storage_id(target.region)),
            retention_policy: Some(RetentionPolicy { enabled: true, days }),
            format: Some(FlowLogFormat { format_type: FormatType::Json, version: 2 }),
            ..Default::default()
        },
        mode: Mode::Enforce,
        deletion_policy: DeletionPolicy::Orphan,
        interval: format!("{}s", interval.as_secs()),
    }
}

// ------------------------------------------------------------------------------------------------------- faults

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    Throttling429,
    ServerErrors5xx,
    SlowOperations,
    FailingOperations,
    ConnectionResets,
    Timeouts,
    TokenOutage,
    SimulatorRestart,
    ApiserverRestart,
    OperatorKilled,
    LeaderChange,
    StatusConflict,
}

impl FaultKind {
    pub const ALL: [FaultKind; 12] = [
        FaultKind::Throttling429,
        FaultKind::ServerErrors5xx,
        FaultKind::SlowOperations,
        FaultKind::FailingOperations,
        FaultKind::ConnectionResets,
        FaultKind::Timeouts,
        FaultKind::TokenOutage,
        FaultKind::SimulatorRestart,
        FaultKind::ApiserverRestart,
        FaultKind::OperatorKilled,
        FaultKind::LeaderChange,
        FaultKind::StatusConflict,
    ];

    /// How many of this kind a campaign of `span` seconds gets (the CI size, 90 s, is the unit).
    fn per_campaign(self, span: Duration) -> usize {
        let base = match self {
            FaultKind::Throttling429 | FaultKind::ServerErrors5xx => 3,
            FaultKind::SlowOperations
            | FaultKind::FailingOperations
            | FaultKind::ConnectionResets
            | FaultKind::SimulatorRestart
            | FaultKind::OperatorKilled
            | FaultKind::StatusConflict => 2,
            FaultKind::Timeouts | FaultKind::TokenOutage | FaultKind::ApiserverRestart | FaultKind::LeaderChange => 1,
        };
        (base as f64 * (span.as_secs_f64() / 90.0)).round().max(1.0) as usize
    }

    pub fn label(self) -> &'static str {
        match self {
            FaultKind::Throttling429 => "429 storm (Retry-After)",
            FaultKind::ServerErrors5xx => "5xx burst",
            FaultKind::SlowOperations => "slow long-running operations",
            FaultKind::FailingOperations => "failing long-running operations",
            FaultKind::ConnectionResets => "connection resets",
            FaultKind::Timeouts => "request timeouts (65 s polls)",
            FaultKind::TokenOutage => "token endpoint outage",
            FaultKind::SimulatorRestart => "simulator restarted",
            FaultKind::ApiserverRestart => "apiserver restarted",
            FaultKind::OperatorKilled => "leader SIGKILLed during writes",
            FaultKind::LeaderChange => "leader change (SIGTERM)",
            FaultKind::StatusConflict => "status written by another manager",
        }
    }
}

/// One fault of the schedule: when it starts, how long it lasts (rule windows, outages) and its size (calls a
/// rule fires on, policies it touches), all drawn from the seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub at: Duration,
    pub kind: FaultKind,
    pub lasts: Duration,
    pub size: u32,
    /// A second number the kind uses (Retry-After seconds, an HTTP status, an operation's milliseconds).
    pub param: u32,
}

/// The campaign's faults over `span`, in the order they start; the same seed gives the same schedule. Timeouts come
/// in the second sixth, once policies are Ready: two polls of operations (of NSG writes the campaign asks for then)
/// hang for 65 s, past the client's 60 s timeout, which may outlast the other faults.
pub fn schedule(seed: u64, span: Duration) -> Vec<Planned> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let span_ms = span.as_millis() as u64;
    let mut plan = Vec::new();
    for kind in FaultKind::ALL {
        for _ in 0..kind.per_campaign(span) {
            let (earliest, latest) =
                if kind == FaultKind::Timeouts { (span_ms / 6, span_ms / 3) } else { (3_000, span_ms) };
            let at = Duration::from_millis(rng.u64(earliest.max(3_000)..latest.max(3_001)));
            let (lasts, size, param) = match kind {
                FaultKind::Throttling429 => (rng.u64(3..10), rng.u32(20..60), rng.u32(1..6)),
                FaultKind::ServerErrors5xx => (rng.u64(3..10), rng.u32(10..40), [500, 502, 503][rng.usize(..3)]),
                FaultKind::SlowOperations => (rng.u64(5..15), rng.u32(5..15), rng.u32(5_000..20_000)),
                FaultKind::FailingOperations => (rng.u64(5..15), rng.u32(3..8), 0),
                FaultKind::ConnectionResets => (rng.u64(3..10), rng.u32(10..30), 0),
                FaultKind::Timeouts => (10, 2, 65_000),
                FaultKind::TokenOutage => (rng.u64(8..20), 100_000, 0),
                FaultKind::SimulatorRestart => (rng.u64(2..7), 0, 0),
                FaultKind::ApiserverRestart => (rng.u64(2..6), 0, 0),
                FaultKind::OperatorKilled | FaultKind::StatusConflict => (0, rng.u32(8..20), 0),
                FaultKind::LeaderChange => (0, 0, 0),
            };
            plan.push(Planned { at, kind, lasts: Duration::from_secs(lasts), size, param });
        }
    }
    plan.sort_by_key(|p| (p.at, p.kind));
    plan
}

/// The simulator fault rule a planned fault installs for its window, if it is one; `which` picks among the
/// long-running write operations (NSG or VNet flow logs).
pub fn rule(planned: &Planned, which: usize) -> Option<FaultRule> {
    let write = ["configureFlowLog", "flowLogsCreateOrUpdate"][which % 2];
    let value = match planned.kind {
        FaultKind::Throttling429 => json!({"operation": "*", "count": planned.size, "effect": {"error": {
            "status": 429, "code": "TooManyRequests", "message": "The request is being throttled.",
            "retryAfterSeconds": planned.param}}}),
        FaultKind::ServerErrors5xx => {
            let code = match planned.param {
                500 => "InternalServerError",
                502 => "BadGateway",
                _ => "ServiceUnavailable",
            };
            json!({"operation": "*", "count": planned.size, "effect": {"error": {"status": planned.param, "code": code}}})
        }
        FaultKind::SlowOperations => {
            json!({"operation": write, "count": planned.size, "effect": {"lro": {"durationMs": planned.param}}})
        }
        FaultKind::FailingOperations => {
            json!({"operation": write, "count": planned.size, "effect": {"lro": {"end": "Failed"}}})
        }
        FaultKind::ConnectionResets => json!({"operation": "*", "count": planned.size, "effect": "drop"}),
        FaultKind::Timeouts => {
            json!({"operation": "operationResult", "count": planned.size, "effect": {"latencyMs": planned.param}})
        }
        FaultKind::TokenOutage => json!({"operation": "token", "count": planned.size, "effect": {"error": {
            "status": 503, "code": "temporarily_unavailable"}}}),
        _ => return None,
    };
    Some(serde_json::from_value(value).expect("a valid fault rule"))
}

// ------------------------------------------------------------------------------------------------------- checks

/// ARM's request classes as the simulator's counters name operations: GET = read; PUT, PATCH, POST = write; DELETE.
pub fn class(operation: &str) -> Option<&'static str> {
    match operation {
        "token" | "imds" => None,
        "queryFlowLogStatus"
        | "configureFlowLog"
        | "flowLogsCreateOrUpdate"
        | "flowLogsUpdateTags"
        | "providersRegister" => Some("write"),
        "flowLogsDelete" => Some("delete"),
        _ => Some("read"),
    }
}

/// The counters summed by class.
pub fn by_class(counters: &BTreeMap<String, u64>) -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    for (op, n) in counters {
        if let Some(c) = class(op) {
            *out.entry(c).or_insert(0) += n;
        }
    }
    out
}

/// The worst window of a token bucket (`burst`, `per_second`) over cumulative counts sampled at times (seconds):
/// the largest `requests − (burst + per_second × seconds)` over every pair of samples, with the window's bounds.
/// Positive means the requests outran the bucket.
pub fn worst_window(samples: &[(f64, u64)], burst: f64, per_second: f64) -> (f64, f64, f64) {
    let mut worst = (f64::MIN, 0.0, 0.0);
    for (i, (t0, n0)) in samples.iter().enumerate() {
        for (t1, n1) in &samples[i + 1..] {
            let excess = (n1 - n0) as f64 - (burst + per_second * (t1 - t0));
            if excess > worst.0 {
                worst = (excess, *t0, *t1);
            }
        }
    }
    worst
}

/// The most requests in any window of `window` seconds (sampled bounds), and where it starts.
pub fn busiest_window(samples: &[(f64, u64)], window: f64) -> (u64, f64) {
    let mut best = (0, 0.0);
    let mut j = 0;
    for (i, (t0, n0)) in samples.iter().enumerate() {
        j = j.max(i);
        while j + 1 < samples.len() && samples[j + 1].0 - t0 <= window {
            j += 1;
        }
        let n = samples[j].1 - n0;
        if n > best.0 {
            best = (n, *t0);
        }
    }
    best
}
