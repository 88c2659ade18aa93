//! `flowlog-operator logs`: the flows a flow log wrote, for a policy (read from the cluster) or a target's ARM ID.
//! Finds the flow log and its storage account through ARM, lists the container by prefix, downloads the hours asked
//! for and prints the flows; progress on stderr. Reads only. The parsing, selection and formats are
//! [`crate::logs`]'s.

use std::io::Write as _;

use anyhow::{Context as _, bail};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use url::Url;

use crate::api::FlowLogPolicy;
use crate::azure::NoopObserver;
use crate::azure::id::ResourceId;
use crate::cli::azure::AzureArgs;
use crate::logs::format::{Format, render};
use crate::logs::read::{blob_endpoint, blobs, locate, read_flows};
use crate::logs::select::{Filter, IpMatch};
use crate::logs::tuple::{Direction, Protocol};

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["policy", "target"]))]
pub struct Args {
    /// The FlowLogPolicy whose flow log to read, `NAMESPACE/NAME` (read from the cluster in KUBECONFIG).
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub policy: Option<String>,
    /// The ARM ID of the flow log's target (NSG, virtual network, subnet or NIC).
    #[arg(long, value_name = "ARM_ID")]
    pub target: Option<String>,
    /// From: a duration before now (`90m`, `2h`) or an RFC 3339 time (`2026-12-02T09:00:00Z`).
    #[arg(long, default_value = "1h")]
    pub since: String,
    /// Until (exclusive): a duration before now or an RFC 3339 time. Default: now.
    #[arg(long)]
    pub until: Option<String>,
    /// Output format on stdout.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Only flows from or to this IP address or CIDR block (repeat for several).
    #[arg(long = "ip", value_name = "IP|CIDR", value_parser = IpMatch::parse)]
    pub ips: Vec<IpMatch>,
    /// Only flows from or to this port (repeat for several).
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,
    /// Only this protocol: `tcp`, `udp`, `icmp` or an IANA number.
    #[arg(long, value_parser = parse_protocol)]
    pub protocol: Option<Protocol>,
    /// Only this direction: `inbound` or `outbound`.
    #[arg(long, value_parser = parse_direction)]
    pub direction: Option<Direction>,
    /// Only denied flows.
    #[arg(long)]
    pub denied: bool,
    /// A Blob service origin the storage token may go to besides the cloud's `*.blob.core.…` endpoints (Azure Stack
    /// Hub, Azurite: `https://127.0.0.1:10000`).
    #[arg(long, env = "FLOWLOG_STORAGE_ORIGIN")]
    pub storage_origin: Option<Url>,
    #[command(flatten)]
    pub azure: AzureArgs,
}

fn parse_protocol(text: &str) -> Result<Protocol, String> {
    Protocol::from_name(text).ok_or_else(|| format!("{text:?} is not tcp, udp, icmp or an IANA protocol number"))
}

fn parse_direction(text: &str) -> Result<Direction, String> {
    match text.to_ascii_lowercase().as_str() {
        "inbound" | "in" | "i" => Ok(Direction::Inbound),
        "outbound" | "out" | "o" => Ok(Direction::Outbound),
        _ => Err(format!("{text:?} is not inbound or outbound")),
    }
}

/// `--since`/`--until` as Unix milliseconds: a duration before `now`, or an RFC 3339 time.
pub fn parse_time(text: &str, now: Timestamp) -> anyhow::Result<i64> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at.as_millisecond());
    }
    match super::parse_duration(text) {
        Ok(ago) => Ok(now.as_millisecond() - i64::try_from(ago.as_millis()).unwrap_or(i64::MAX / 2)),
        Err(_) => bail!("{text:?} is neither a duration (90m, 2h) nor an RFC 3339 time (2026-12-02T09:00:00Z)"),
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let since_ms = parse_time(&args.since, now).context("--since")?;
    let until_ms = match &args.until {
        Some(until) => parse_time(until, now).context("--until")?,
        None => now.as_millisecond() + 1,
    };
    if until_ms <= since_ms {
        bail!("--until must be after --since");
    }
    let filter = Filter {
        ips: args.ips.clone(),
        ports: args.ports.clone(),
        protocol: args.protocol,
        direction: args.direction,
        denied_only: args.denied,
        since_ms: Some(since_ms),
        until_ms: Some(until_ms),
    };
    let (target, watcher) = match (&args.policy, &args.target) {
        (Some(policy), _) => policy_target(policy).await?,
        (None, Some(target)) => (ResourceId::parse(target).context("--target")?, None),
        (None, None) => bail!("name a --policy or a --target"),
    };
    let mut progress = |line: &str| eprintln!("[logs] {line}");
    let (cloud, _, arm) = args.azure.arm_client(std::sync::Arc::new(NoopObserver))?;
    let located = locate(&arm, &target, watcher).await?;
    progress(&format!(
        "flow log {} → storage account {}",
        located.flow_log.id.as_deref().unwrap_or("?"),
        located.storage_id
    ));
    let reader = args.azure.blob_reader(&cloud, args.storage_origin.clone())?;
    let endpoint = reader.endpoint(&blob_endpoint(&arm, &located.storage_id).await?)?;
    let container = located.source.container();
    let wanted = blobs(&reader, &endpoint, &located.source, &filter, &mut progress).await?;
    let flows = read_flows(&reader, &endpoint, container, &wanted, &filter, &mut progress).await?;
    for problem in flows.problems.iter().take(20) {
        eprintln!("[logs] warning: {problem}");
    }
    if flows.problems.len() > 20 {
        eprintln!("[logs] warning: {} more unreadable tuples or blobs", flows.problems.len() - 20);
    }
    progress(&format!("{} flows", flows.entries.len()));
    let text = render(&flows.entries, args.output);
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        // A reader that stopped early (`| head`) is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing the flows"),
        _ => Ok(()),
    }
}

/// A policy's target and the watcher its spec names, from the cluster.
async fn policy_target(policy: &str) -> anyhow::Result<(ResourceId, Option<ResourceId>)> {
    let Some((namespace, name)) = policy.split_once('/').filter(|(n, m)| !n.is_empty() && !m.is_empty()) else {
        bail!("--policy {policy:?}: expected NAMESPACE/NAME");
    };
    let client = kube::Client::try_default().await.context("connecting to Kubernetes (KUBECONFIG or in-cluster)")?;
    let policy = Api::<FlowLogPolicy>::namespaced(client, namespace)
        .get(name)
        .await
        .with_context(|| format!("reading FlowLogPolicy {namespace}/{name}"))?;
    let target = ResourceId::parse(&policy.spec.target.resource_id).context("the policy's target")?;
    let watcher = policy
        .spec
        .network_watcher
        .as_ref()
        .map(|w| ResourceId::network_watcher(&target.subscription, &w.resource_group, &w.name));
    Ok((target, watcher))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_durations_before_now_or_rfc3339() {
        let now: Timestamp = "2026-12-02T10:00:00Z".parse().unwrap();
        assert_eq!(parse_time("2h", now).unwrap(), now.as_millisecond() - 7_200_000);
        assert_eq!(parse_time("2026-12-02T09:00:00Z", now).unwrap(), 1_796_202_000_000);
        let err = parse_time("yesterday", now).unwrap_err().to_string();
        assert!(err.contains("neither a duration"), "{err}");
        assert_eq!(parse_direction("OUT").unwrap(), Direction::Outbound);
        assert!(parse_direction("up").is_err());
        assert_eq!(parse_protocol("17").unwrap(), Protocol::Udp);
        assert!(parse_protocol("tcpx").is_err());
    }
}
