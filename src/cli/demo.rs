use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use url::Url;

use crate::api::FlowLogPolicy;
use crate::api::ObservedFlowLog;
use crate::api::{DiscoveryStatus, FlowLogPolicySet};
use crate::api::{FlowLogPolicySpec, LastError};
use crate::azure::credential::CachedCredential;
use crate::azure::id::same_id;
use crate::azure::{ArmClient, PollSettings};
use crate::reconcile::refusal::{Conditions, Refusal};
use crate::reconcile::set::{Child, Coverage, PolicyState, changes, select, set_status};
use crate::sync::discover;
use crate::sync::{
    FlowLogIndex, Insights, Observation, Step, SyncError, Synced, apply, confirm, finish, locate, observe, settle,
};
use flowlog_simulator::inventory::LroMode;
use flowlog_simulator::{Inventory, Simulator};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// The example policies of `deploy/examples/`, built in so that the demo runs anywhere.
pub const EXAMPLES: [(&str, &str); 5] = [
    ("web-nsg.yaml", include_str!("../../deploy/examples/web-nsg.yaml")),
    ("db-nsg.yaml", include_str!("../../deploy/examples/db-nsg.yaml")),
    ("web-dr-nsg.yaml", include_str!("../../deploy/examples/web-dr-nsg.yaml")),
    ("new-nsg.yaml", include_str!("../../deploy/examples/new-nsg.yaml")),
    ("app-subnet.yaml", include_str!("../../deploy/examples/app-subnet.yaml")),
];

/// The example set of `deploy/examples/sets/`, built in as well.
pub const SET_EXAMPLE: (&str, &str) =
    ("sets/all-vnets.yaml", include_str!("../../deploy/examples/sets/all-vnets.yaml"));

#[derive(clap::Args)]
pub struct Args {
    /// Answer long-running operations synchronously (200) instead of 202 + polling.
    #[arg(long)]
    pub sync_operations: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut inventory = Inventory::builtin();
    // Keep the 202 + polling protocol, without the one-second operations and waits of Azure: operations take
    // 20 ms of wall-clock time, and the client polls again at once (some ten polls each).
    inventory.behaviour.lro.duration_ms = 20;
    inventory.behaviour.lro.retry_after_seconds = 0;
    if args.sync_operations {
        inventory.behaviour.lro.mode = LroMode::Sync;
    }
    let sim = Simulator::new(inventory);
    let url = sim.clone().spawn_local().await.context("starting the simulator")?;
    let base = Url::parse(&format!("{url}/"))?;
    println!("Network Watcher simulator at {url} (built-in inventory; no Azure account, no cluster)\n");

    let http = super::azure::http_client()?;
    let credential = built_in_credential(http.clone(), &base)?;
    let arm = ArmClient::new(http, base, CachedCredential::new(credential), PollSettings::default());

    let policies = EXAMPLES
        .iter()
        .map(|(file, text)| {
            serde_saphyr::from_str::<FlowLogPolicy>(text).with_context(|| format!("example {file}")).map(|p| (*file, p))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let mut refusals = HashMap::new();
    println!("1. Reconcile the example policies of deploy/examples/");
    for (file, policy) in &policies {
        let target = &policy.spec.target.resource_id;
        println!("\n  {file}  →  {}", short(target));
        println!("    before: {}", describe(&sim, target));
        report(&check(&arm, file, &policy.spec, &mut refusals).await);
        println!("    after:  {}", describe(&sim, target));
    }

    let (file, policy) = &policies[0];
    let target = &policy.spec.target.resource_id;
    println!("\n2. Drift: someone switches the flow log of {} off behind the operator's back", short(target));
    let mut drifted = sim.flow_log_status(target).context("the example target exists in the built-in inventory")?;
    drifted.properties.enabled = false;
    sim.set_flow_log(drifted).map_err(anyhow::Error::msg)?;
    println!("    Azure now: {}", describe(&sim, target));
    println!("  next drift check of {file}:");
    report(&check(&arm, file, &policy.spec, &mut refusals).await);
    println!("    after:  {}", describe(&sim, target));

    println!("\n3. Steady state: one more drift check of every policy");
    sim.reset_counters();
    for (file, policy) in &policies {
        let _ = check(&arm, file, &policy.spec, &mut refusals).await;
    }
    let counters = sim.counters();
    let count = |op: &str| counters.get(op).copied().unwrap_or(0);
    println!(
        "    ARM calls: queryFlowLogStatus {}, configureFlowLog {}, flowLogs reads {}, flowLogs writes {} (the refused write is not sent again; nothing else needs one)",
        count("queryFlowLogStatus"),
        count("configureFlowLog"),
        count("flowLogsGet") + count("flowLogsList"),
        count("flowLogsCreateOrUpdate")
    );
    set_step(&arm, &sim, &mut refusals).await?;
    logs_step(&sim, &policies[0].1.spec.target.resource_id)?;
    println!("\nDone in {:.1} s. Run the operator on a cluster: see README.md.", started.elapsed().as_secs_f64());
    Ok(())
}

/// The flow logs themselves: where Network Watcher writes a flow log's blobs, and a few of its flows decoded as
/// `flowlog-operator logs` decodes them. The records are the ones the simulator delivers to a Blob service (Azurite
/// in the tests); the demo has none, so they are shown, not written.
fn logs_step(sim: &Simulator, target: &str) -> anyhow::Result<()> {
    use crate::logs::format::{Format, render};
    use crate::logs::{Source, parse_document};

    println!("\n6. The flow logs themselves: `flowlog-operator logs` reads what Network Watcher writes to storage");
    let flow_log = sim
        .flow_log_resources()
        .into_iter()
        .find(|f| crate::azure::id::same_id(&f.properties.target_resource_id, target))
        .and_then(|f| f.id)
        .context("the example target has a flow log")?;
    let now = Timestamp::now().as_second().max(0) as u64;
    let written: Vec<_> = sim
        .preview_delivery(now - 120, 3, 1)
        .into_iter()
        .filter(|w| w.flow_log.eq_ignore_ascii_case(&flow_log))
        .collect();
    let Some(first) = written.first() else { anyhow::bail!("the example flow log writes nothing") };
    let source = Source::Nsg { nsg: crate::azure::id::ResourceId::parse(target)? };
    println!("    storage account {}, container {}", first.storage_account, first.container);
    println!("    this hour's blob: {}", first.blob);
    println!(
        "    found by listing the prefix {} (blob paths come in more than one documented form: listed and matched, not built)",
        source.prefixes()[0]
    );
    let records: Vec<String> = written.iter().map(|w| w.record.to_string()).collect();
    let document = parse_document(&format!("{{\"records\":[{}]}}", records.join(",")))?;
    println!(
        "    the last {} minutes: {} records, {} flows; the first three:\n",
        written.len(),
        document.records,
        document.entries.len()
    );
    for line in render(&document.entries[..document.entries.len().min(3)], Format::Table).lines() {
        println!("      {line}");
    }
    Ok(())
}

/// A FlowLogPolicySet as the set controller runs it: discovery, selection, one generated policy per target
/// (checked like any other), and the set's status.
async fn set_step(arm: &ArmClient, sim: &Simulator, refusals: &mut HashMap<String, Refusal>) -> anyhow::Result<()> {
    let (file, text) = SET_EXAMPLE;
    let set: FlowLogPolicySet = serde_saphyr::from_str(text).with_context(|| format!("example {file}"))?;
    println!("\n4. A FlowLogPolicySet ({file}): every VNet of the subscription, except those tagged flowlogs: exempt");
    let discovery = discover(arm, &set.spec.selector).await?;
    let selection = select(&set, &discovery.found, &|_| None);
    println!(
        "    discovery: {} virtual networks in {} subscription(s); {} selected, {} excluded by tag",
        discovery.found.len(),
        discovery.subscriptions,
        selection.targets.len(),
        selection.excluded
    );
    let mut states = std::collections::BTreeMap::new();
    let mut policies = Vec::new();
    for (target, coverage) in &selection.targets {
        match coverage {
            Coverage::Policy { name, spec } => {
                println!("\n  {name}  →  {}", short(target));
                println!("    before: {}", describe(sim, target));
                let checked = check(arm, name, spec, refusals).await;
                report(&checked);
                println!("    after:  {}", describe(sim, target));
                let ready = matches!(checked, Checked::Synced(Ok(_)));
                let reason = if ready { "Applied" } else { "Failed" };
                policies.push(generated(&set, name, spec, ready, reason));
                states.insert(
                    name.clone(),
                    PolicyState { ready, reason: reason.into(), message: String::new(), current: true },
                );
            }
            Coverage::NotCovered { reason, message } => {
                println!("\n  {}: no policy ({reason}: {message})", short(target))
            }
        }
    }
    // The generated policies now exist as the selection wants them: nothing left to apply.
    let children: Vec<Child> = selection
        .targets
        .iter()
        .filter_map(|(target, coverage)| match coverage {
            Coverage::Policy { name, spec } => {
                Some(Child { name: name.clone(), target: target.clone(), spec: (**spec).clone() })
            }
            Coverage::NotCovered { .. } => None,
        })
        .collect();
    let status = set_status(
        None,
        None,
        Some(&selection),
        DiscoveryStatus {
            time: None,
            complete: discovery.complete(),
            found: discovery.found.len() as i32,
            error: discovery.error(),
        },
        &changes(Some(&selection), discovery.complete(), &children, set.spec.pruning.max_prune_percent, None),
        &states,
        &Time(Timestamp::now()),
    );
    let ready = status.conditions.iter().find(|c| c.type_ == crate::reconcile::READY);
    println!(
        "\n    set status: {} targets, {} compliant, {} excluded; Ready={} ({})",
        status.targets,
        status.compliant,
        status.excluded,
        ready.map_or("?", |c| c.status.as_str()),
        ready.map_or("", |c| c.message.as_str())
    );
    let mut set = set;
    set.status = Some(status);
    let scope = crate::report::Scope { namespace: None, set: set.metadata.name.clone() };
    let report = crate::report::build(std::slice::from_ref(&set), &policies, scope, Timestamp::now());
    println!("\n5. The compliance report (`flowlog-operator report` reads the same from a cluster)\n");
    for line in crate::report::format::table(&report).lines() {
        println!("    {line}");
    }
    Ok(())
}

/// A generated policy as the set controller creates it, with the status its check would give it.
fn generated(set: &FlowLogPolicySet, name: &str, spec: &FlowLogPolicySpec, ready: bool, reason: &str) -> FlowLogPolicy {
    let mut policy = FlowLogPolicy::new(name, spec.clone());
    policy.metadata.generation = Some(1);
    policy.metadata.labels =
        Some([(crate::reconcile::set::SET_LABEL.to_string(), set.metadata.name.clone().unwrap_or_default())].into());
    let condition = k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
        type_: crate::reconcile::READY.into(),
        status: if ready { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: String::new(),
        observed_generation: Some(1),
        last_transition_time: Time(Timestamp::now()),
    };
    policy.status = Some(crate::api::FlowLogPolicyStatus {
        observed_generation: Some(1),
        conditions: vec![condition],
        ..Default::default()
    });
    policy
}

/// What one drift check did.
enum Checked {
    Synced(Result<Synced, SyncError>),
    /// Azure refused this write before and nothing it was refused under has changed: not sent again.
    StillRefused(LastError),
}

/// One drift check as the controller makes it (locate → observe → apply), including its rule for refused writes.
async fn check(
    arm: &ArmClient,
    file: &str,
    spec: &FlowLogPolicySpec,
    refusals: &mut HashMap<String, Refusal>,
) -> Checked {
    // The demo changes Azure between checks: list the watcher at every check (a snapshot of age zero).
    let index = FlowLogIndex::default();
    let step = match locate(arm, spec, None).await {
        Ok(located) => observe(arm, &index, located, &spec.flow_log, Duration::ZERO).await,
        Err(e) => Err(e),
    };
    let conditions = |observation: &Observation| Conditions {
        generation: None,
        observed: observation.observed(),
        credentials: None,
        retry: None,
    };
    // As the controller: a refused write is recognised from the list, before the NSG's drift is confirmed.
    let observation = match step {
        Ok(Step::Observed(observation)) => {
            if let Some(refusal) = refusals.get(file).filter(|r| r.repeats(&conditions(&observation))) {
                return Checked::StillRefused(refusal.error.clone());
            }
            match confirm(arm, &index, observation, &spec.flow_log).await {
                Ok(step) => settle(arm, &index, step, &spec.flow_log).await,
                Err(e) => Err(e),
            }
        }
        Ok(step) => settle(arm, &index, step, &spec.flow_log).await,
        Err(e) => Err(e),
    };
    let observation = match observation {
        Ok(observation) => observation,
        Err(e) => return Checked::Synced(Err(e)),
    };
    let under = conditions(&observation);
    if let Some(refusal) = refusals.get(file).filter(|r| r.repeats(&under)) {
        return Checked::StillRefused(refusal.error.clone());
    }
    let located = observation.located().clone();
    let differences = observation.differences().map(<[_]>::to_vec).unwrap_or_default();
    let result = match apply(arm, &index, &Insights::new(false), observation, &spec.flow_log).await {
        Ok(applied) => finish(arm, &index, located, applied, &spec.flow_log, differences).await,
        Err(e) => Err(e),
    };
    match &result {
        Err(e) if !e.is_transient() => {
            let error = LastError { code: e.code().into(), message: e.to_string(), request_id: None };
            refusals.insert(file.to_string(), Refusal { error, under });
        }
        _ => {
            refusals.remove(file);
        }
    }
    Checked::Synced(result)
}

fn report(checked: &Checked) {
    let result = match checked {
        Checked::Synced(result) => result,
        Checked::StillRefused(error) => {
            return println!("    operator: still stalled → {} (refused before: not sent again)", error.code);
        }
    };
    match result {
        Ok(synced) if synced.corrected.is_empty() => println!("    operator: in sync, no write"),
        Ok(synced) => {
            println!("    operator: one write to Azure repairs:");
            for d in &synced.corrected {
                println!("      - {d}");
            }
        }
        Err(e) => println!("    operator: {} → {e}", if e.is_transient() { "will retry" } else { "stalled" }),
    }
}

/// The flow log of `target` as the simulator holds it: NSG flow logs through `queryFlowLogStatus`'s view,
/// VNet flow logs as `flowLogs` resources.
fn describe(sim: &Simulator, target: &str) -> String {
    let observed: ObservedFlowLog = match sim.flow_log_status(target) {
        Some(info) => (&info).into(),
        None => match sim.flow_log_resources().iter().find(|l| same_id(&l.properties.target_resource_id, target)) {
            Some(log) => log.into(),
            None => return "no flow log".into(),
        },
    };
    if !observed.enabled {
        return "flow log off".into();
    }
    let retention = match observed.retention_policy {
        Some(r) if r.enabled => format!("{} days", r.days),
        _ => "forever".into(),
    };
    let format = observed.format.as_ref().map(|f| format!("v{}", f.version)).unwrap_or_else(|| "-".into());
    let analytics = match observed.traffic_analytics {
        Some(ta) if ta.enabled => format!(", traffic analytics every {} min", ta.interval_minutes.unwrap_or_default()),
        _ => String::new(),
    };
    format!("on → {}, retention {retention}, format {format}{analytics}", short(&observed.storage_id))
}

/// The last path segment of an ARM ID: enough to tell resources apart in a demo.
fn short(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// A credential for the simulator's built-in service principal against a simulator at `base` (which serves the
/// token endpoint too), asking for an ARM token as the operator does.
pub fn built_in_credential(
    http: reqwest::Client,
    base: &Url,
) -> Result<crate::azure::credential::ClientSecretCredential, crate::azure::ArmError> {
    crate::azure::credential::ClientSecretCredential::new(
        http,
        base,
        flowlog_simulator::DEFAULT_TENANT_ID,
        flowlog_simulator::DEFAULT_CLIENT_ID,
        crate::azure::credential::Secret::new(flowlog_simulator::DEFAULT_CLIENT_SECRET),
        "https://management.azure.com/.default",
    )
}
