//! `migrate apply` and `migrate rollback` against the cluster: the migration's FlowLogPolicies, created and switched
//! in order, with the operator doing the Azure writes, and the record (a ConfigMap) that lets both resume.
//!
//! Apply: the policies of step 1 first; each NSG flow log is switched off once every policy taking over its traffic
//! is Ready (a short overlap, never a gap); done when every switch-off is Ready. Rollback: every NSG flow log it
//! switched off back as it was (Ready), then the policies of step 1 deleted (their deletion policy deletes the new
//! flow logs). Each step is saved in the record after it is made, so a run that stops anywhere resumes where it was.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use super::Existing;
use super::manifests::{MIGRATED_FROM_ANNOTATION, Options, STEP_LABEL, off_settings, restore_spec};
use super::record::{Phase, RECORD_KEY, Record, Seen, next};
use crate::api::{FlowLogPolicy, FlowLogPolicySpec};
use crate::reconcile::{READY, STALLED};

/// The field manager of the migration's policies.
pub const MANAGER: &str = "flowlog-operator-migrate";
/// The label naming the migration (its record's name) on the policies it creates.
pub const MIGRATION_LABEL: &str = "flowlog.dev/migration";

/// Where the record lives and how long to wait.
#[derive(Clone, Debug)]
pub struct Target {
    pub namespace: String,
    /// The record's ConfigMap (and the migration's label value).
    pub name: String,
    /// Give up waiting after this long (a new run resumes).
    pub timeout: Duration,
    /// How often the policies are read while waiting.
    pub poll: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{0}")]
    Kube(#[from] kube::Error),
    #[error("the record {0} is not readable: {1}")]
    Record(String, String),
    #[error("{0}")]
    State(String),
    #[error("timed out after {0:?}: {1}; run the command again to go on from here")]
    Timeout(Duration, String),
    #[error("stuck: {0}")]
    Stuck(String),
}

/// The record, if a migration of that name was started.
pub async fn load(client: &Client, target: &Target) -> Result<Option<Record>, ApplyError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &target.namespace);
    let Some(map) = api.get_opt(&target.name).await? else { return Ok(None) };
    let text = map.data.as_ref().and_then(|d| d.get(RECORD_KEY)).cloned().unwrap_or_default();
    let record: Record = serde_json::from_str(&text)
        .map_err(|e| ApplyError::Record(format!("ConfigMap {}/{}", target.namespace, target.name), e.to_string()))?;
    if record.version != super::record::VERSION {
        return Err(ApplyError::Record(
            format!("ConfigMap {}/{}", target.namespace, target.name),
            format!("format version {} (this build reads {})", record.version, super::record::VERSION),
        ));
    }
    Ok(Some(record))
}

/// Where to look for FlowLogPolicies that already manage an NSG.
#[derive(Clone, Copy, Debug)]
pub enum Search<'a> {
    /// Every namespace; when the caller may not list them cluster-wide, this namespace only (if any).
    Everywhere { or_else: Option<&'a str> },
    /// This namespace only.
    Namespace(&'a str),
}

/// The FlowLogPolicies that already manage an NSG, by lower-case NSG ID. A policy being deleted does not count, nor
/// one that a migration made (its labels say so): the migration that made it owns it.
pub async fn existing_nsg_policies(client: &Client, search: Search<'_>) -> Result<Existing, ApplyError> {
    let in_namespace = |ns: &str| Api::<FlowLogPolicy>::namespaced(client.clone(), ns);
    let policies = match search {
        Search::Namespace(ns) => in_namespace(ns).list(&ListParams::default()).await?.items,
        Search::Everywhere { or_else } => {
            match (Api::<FlowLogPolicy>::all(client.clone()).list(&ListParams::default()).await, or_else) {
                (Ok(list), _) => list.items,
                (Err(kube::Error::Api(e)), Some(ns)) if e.code == 403 => {
                    in_namespace(ns).list(&ListParams::default()).await?.items
                }
                (Err(e), _) => return Err(e.into()),
            }
        }
    };
    Ok(policies
        .into_iter()
        .filter(|p| {
            let labels = p.labels();
            p.metadata.deletion_timestamp.is_none()
                && !labels.contains_key(MIGRATION_LABEL)
                && !labels.contains_key(STEP_LABEL)
                && p.spec.target.resource_id.to_ascii_lowercase().contains("/microsoft.network/networksecuritygroups/")
        })
        .map(|p| {
            let key = p.spec.target.resource_id.to_ascii_lowercase();
            (key, (p.namespace().unwrap_or_default(), p.name_any(), p.spec.clone()))
        })
        .collect())
}

/// Saves a new record; fails when one of that name exists (another apply started it).
pub async fn start(client: &Client, target: &Target, record: &Record) -> Result<(), ApplyError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &target.namespace);
    let map = record_map(target, record);
    match api.create(&PostParams::default(), &map).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Err(ApplyError::State(format!(
            "a migration named {} was started meanwhile in {}; run the command again to resume it",
            target.name, target.namespace
        ))),
        Err(e) => Err(e.into()),
    }
}

fn record_map(target: &Target, record: &Record) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": target.name, "namespace": target.namespace, "labels": {MIGRATION_LABEL: target.name}},
        "data": {RECORD_KEY: serde_json::to_string_pretty(record).expect("a record always serialises")},
    }))
    .expect("a well-formed ConfigMap")
}

async fn save(client: &Client, target: &Target, record: &Record) -> Result<(), ApplyError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &target.namespace);
    api.patch(&target.name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&record_map(target, record))).await?;
    Ok(())
}

/// Server-side applies one of the migration's policies.
async fn apply_policy(
    client: &Client,
    target: &Target,
    name: &str,
    step: &str,
    spec: &FlowLogPolicySpec,
    from: Option<&[String]>,
) -> Result<(), ApplyError> {
    let api: Api<FlowLogPolicy> = Api::namespaced(client.clone(), &target.namespace);
    let mut metadata = json!({"name": name, "labels": {MIGRATION_LABEL: target.name, STEP_LABEL: step}});
    if let Some(from) = from {
        metadata["annotations"] = json!({MIGRATED_FROM_ANNOTATION: from.join(",")});
    }
    let manifest =
        json!({"apiVersion": "flowlog.dev/v1alpha1", "kind": "FlowLogPolicy", "metadata": metadata, "spec": spec});
    api.patch(name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&manifest)).await?;
    Ok(())
}

/// The state of every policy the record names, by `namespace/name` (absent: not found).
pub async fn states(client: &Client, target: &Target, record: &Record) -> Result<BTreeMap<String, Seen>, ApplyError> {
    seen(client, &policy_names(target, record)).await
}

fn policy_names(target: &Target, record: &Record) -> Vec<(String, String)> {
    let mut names: Vec<(String, String)> =
        record.create.iter().map(|c| (target.namespace.clone(), c.policy.clone())).collect();
    names.extend(record.disable.iter().map(|d| (d.namespace.clone(), d.policy.clone())));
    names
}

/// A policy's state by `namespace/name` (absent: not found).
async fn seen(client: &Client, policies: &[(String, String)]) -> Result<BTreeMap<String, Seen>, ApplyError> {
    let mut out = BTreeMap::new();
    for (ns, name) in policies {
        let api: Api<FlowLogPolicy> = Api::namespaced(client.clone(), ns);
        if let Some(p) = api.get_opt(name).await? {
            out.insert(format!("{ns}/{name}"), state(&p));
        }
    }
    Ok(out)
}

fn state(p: &FlowLogPolicy) -> Seen {
    let status = p.status.as_ref();
    let current = status.and_then(|s| s.observed_generation) == p.metadata.generation;
    let condition = |t: &str| status.and_then(|s| s.conditions.iter().find(|c| c.type_ == t));
    let ready = current && condition(READY).is_some_and(|c| c.status == "True");
    let stalled =
        condition(STALLED).filter(|c| current && c.status == "True").map(|c| format!("{} ({})", c.reason, c.message));
    Seen { ready, stalled }
}

/// Runs (or resumes) the migration in `record` until every NSG flow log it can switch off is off.
pub async fn apply(
    client: &Client,
    target: &Target,
    record: &mut Record,
    mut progress: impl FnMut(&str),
) -> Result<(), ApplyError> {
    match record.phase {
        Phase::Applying => {}
        Phase::Applied => return Ok(()),
        phase => {
            return Err(ApplyError::State(format!(
                "migration {} is {}: apply does nothing after a rollback (delete ConfigMap {}/{} to plan anew)",
                target.name,
                phase.as_str(),
                target.namespace,
                target.name
            )));
        }
    }
    progress(&format!("step 1: {} policies for the new flow logs", record.create.len()));
    for c in &record.create {
        apply_policy(client, target, &c.policy, "1-create", &c.spec, Some(&c.from)).await?;
    }
    let names = policy_names(target, record);
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let states = seen(client, &names).await?;
        let plan = next(record, &target.namespace, &states);
        for &i in &plan.switch_off {
            switch_off(client, target, record, i).await?;
            record.disable[i].switched_off = true;
            save(client, target, record).await?;
        }
        let ready = record
            .create
            .iter()
            .filter(|c| states.get(&format!("{}/{}", target.namespace, c.policy)).is_some_and(|s| s.ready))
            .count();
        let off = record.disable.iter().filter(|d| d.switched_off).count();
        let line = format!(
            "{ready}/{} new flow logs Ready, {off}/{} NSG flow logs switched off",
            record.create.len(),
            record.disable.len()
        );
        if line != last {
            progress(&line);
            last = line;
        }
        if plan.done {
            record.phase = Phase::Applied;
            save(client, target, record).await?;
            progress("applied: every NSG flow log the plan could migrate is off");
            return Ok(());
        }
        if plan.switch_off.is_empty() && !plan.waiting.is_empty() && plan.waiting.iter().all(|(_, s)| !s.is_empty()) {
            let stuck: Vec<String> = plan
                .waiting
                .iter()
                .map(|(i, s)| format!("{} stays on: {}", record.disable[*i].nsg, s.join("; ")))
                .collect();
            return Err(ApplyError::Stuck(stuck.join("\n")));
        }
        if started.elapsed() > target.timeout {
            return Err(ApplyError::Timeout(target.timeout, last));
        }
        tokio::time::sleep(target.poll).await;
    }
}

/// Switches one NSG flow log off through its policy: the migration's own (created), or the one that already managed
/// the NSG (its spec's flowLog replaced; its spec before is kept in the record first, for rollback).
async fn switch_off(client: &Client, target: &Target, record: &mut Record, i: usize) -> Result<(), ApplyError> {
    let entry = record.disable[i].clone();
    let off = off_settings(&entry.original);
    match &entry.existing_spec {
        None => {
            let spec = super::manifests::off_spec(&entry.nsg, &entry.original, &options(target, record));
            apply_policy(client, target, &entry.policy, "2-disable", &spec, None).await
        }
        Some(_) => {
            let api: Api<FlowLogPolicy> = Api::namespaced(client.clone(), &entry.namespace);
            let current = api.get(&entry.policy).await?;
            if current.spec.flow_log != off {
                // What it is now is what rollback restores (it may have changed since the plan).
                record.disable[i].existing_spec = Some(current.spec.clone());
                save(client, target, record).await?;
            }
            let patch = json!([{"op": "replace", "path": "/spec/flowLog", "value": off}]);
            api.patch(
                &entry.policy,
                &PatchParams::default(),
                &Patch::Json::<()>(serde_json::from_value(patch).expect("a JSON patch")),
            )
            .await?;
            Ok(())
        }
    }
}

/// Undoes what apply did: every NSG flow log it switched off back as it was, then the new flow logs' policies
/// deleted (and with them the flow logs). Resumes a rollback that stopped.
pub async fn rollback(
    client: &Client,
    target: &Target,
    record: &mut Record,
    mut progress: impl FnMut(&str),
) -> Result<(), ApplyError> {
    match record.phase {
        Phase::Applying | Phase::Applied | Phase::RollingBack => {}
        Phase::RolledBack => return Ok(()),
    }
    record.phase = Phase::RollingBack;
    save(client, target, record).await?;
    let options = options(target, record);
    let restored: Vec<usize> =
        (0..record.disable.len()).filter(|&i| record.disable[i].switched_off && record.disable[i].restorable).collect();
    // What cannot be switched back on stays off, and the flow logs that took over its traffic stay with it.
    let kept: Vec<usize> = (0..record.disable.len())
        .filter(|&i| record.disable[i].switched_off && !record.disable[i].restorable)
        .collect();
    let keep: std::collections::BTreeSet<String> =
        kept.iter().flat_map(|&i| record.disable[i].after.iter().cloned()).collect();
    for &i in &kept {
        progress(&format!(
            "{} stays off: its storage account cannot serve its region, so Azure would refuse its own settings; the flow logs that took over its traffic stay ({})",
            record.disable[i].nsg,
            record.disable[i].after.join(", ")
        ));
    }
    progress(&format!("switching {} NSG flow logs back on", restored.len()));
    for &i in &restored {
        let entry = &record.disable[i];
        match &entry.existing_spec {
            None => {
                let spec = restore_spec(&entry.nsg, &entry.original, &options);
                apply_policy(client, target, &entry.policy, "rollback", &spec, None).await?;
            }
            Some(before) => {
                let api: Api<FlowLogPolicy> = Api::namespaced(client.clone(), &entry.namespace);
                let patch = json!([{"op": "replace", "path": "/spec", "value": before}]);
                api.patch(
                    &entry.policy,
                    &PatchParams::default(),
                    &Patch::Json::<()>(serde_json::from_value(patch).expect("a JSON patch")),
                )
                .await?;
            }
        }
    }
    let names: Vec<(String, String)> =
        restored.iter().map(|&i| (record.disable[i].namespace.clone(), record.disable[i].policy.clone())).collect();
    let started = Instant::now();
    loop {
        let states = seen(client, &names).await?;
        let waiting: Vec<&(String, String)> =
            names.iter().filter(|(ns, n)| !states.get(&format!("{ns}/{n}")).is_some_and(|s| s.ready)).collect();
        if waiting.is_empty() {
            break;
        }
        let stalled: Vec<String> = waiting
            .iter()
            .filter_map(|(ns, n)| Some(format!("{ns}/{n}: {}", states.get(&format!("{ns}/{n}"))?.stalled.as_ref()?)))
            .collect();
        if stalled.len() == waiting.len() {
            return Err(ApplyError::Stuck(stalled.join("\n")));
        }
        if started.elapsed() > target.timeout {
            return Err(ApplyError::Timeout(target.timeout, format!("{} NSG flow logs not back yet", waiting.len())));
        }
        tokio::time::sleep(target.poll).await;
    }
    // The migration's own NSG policies go (their deletion policy leaves the flow logs on); then the new flow logs.
    let policies: Api<FlowLogPolicy> = Api::namespaced(client.clone(), &target.namespace);
    for &i in &restored {
        let entry = &record.disable[i];
        if entry.existing_spec.is_none() {
            delete(&policies, &entry.policy).await?;
        }
        record.disable[i].switched_off = false;
    }
    save(client, target, record).await?;
    let deleted: Vec<String> = record.create.iter().map(|c| c.policy.clone()).filter(|p| !keep.contains(p)).collect();
    progress(&format!("deleting the {} new flow logs' policies", deleted.len()));
    for policy in &deleted {
        delete(&policies, policy).await?;
    }
    let started = Instant::now();
    loop {
        let mut left = 0;
        for c in &deleted {
            if policies.get_opt(c).await?.is_some() {
                left += 1;
            }
        }
        if left == 0 {
            break;
        }
        if started.elapsed() > target.timeout {
            return Err(ApplyError::Timeout(target.timeout, format!("{left} new flow logs not deleted yet")));
        }
        tokio::time::sleep(target.poll).await;
    }
    record.phase = Phase::RolledBack;
    save(client, target, record).await?;
    progress("rolled back: the NSG flow logs are as they were, the new flow logs deleted");
    Ok(())
}

fn options(target: &Target, record: &Record) -> Options {
    Options { namespace: Some(target.namespace.clone()), interval: Some(record.interval.clone()) }
}

async fn delete(api: &Api<FlowLogPolicy>, name: &str) -> Result<(), ApplyError> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}
