//! The plan as manifests for a Git repository (pure): three folders, each a kustomization, applied in order.
//!
//! - `01-create-vnet-flow-logs/`: a FlowLogPolicy per new VNet, subnet or NIC flow log (deletion policy `Delete`:
//!   reverting the step deletes what it created, Microsoft's rollback);
//! - `02-disable-nsg-flow-logs/`: a FlowLogPolicy per migrated NSG flow log, switching it off (never deleting it:
//!   deletion policy `Orphan`), to merge once every policy of step 1 is Ready;
//! - `rollback/`: the same NSG policies with their original settings, to apply instead of step 2 to undo it (not those
//!   whose storage account `--storage` replaced: Azure would refuse their own settings).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Existing;
use super::analysis::{NewFlowLog, NsgAction, NsgFlowLog, RegionPlan};
use crate::api::{DeletionPolicy, FlowLogPolicySpec, FlowLogSettings, Mode, Target, TrafficAnalytics};
use crate::reconcile::set::child_name;

/// The label naming a migration's step on the policies it writes (`1-create`, `2-disable`).
pub const STEP_LABEL: &str = "flowlog.dev/migration-step";
/// The annotation listing the NSG flow logs (ARM IDs, comma-separated) whose traffic a new flow log takes over.
pub const MIGRATED_FROM_ANNOTATION: &str = "flowlog.dev/migrated-from";

/// The first folder: the new flow logs.
pub const CREATE_DIR: &str = "01-create-vnet-flow-logs";
/// The second folder: the NSG flow logs switched off.
pub const DISABLE_DIR: &str = "02-disable-nsg-flow-logs";
/// The NSG flow logs as they were.
pub const ROLLBACK_DIR: &str = "rollback";

/// Where and how the policies are written.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `metadata.namespace` of every policy (`None`: left to kustomize or `kubectl -n`).
    pub namespace: Option<String>,
    /// `spec.interval` (`None`: the CRD's default).
    pub interval: Option<String>,
}

/// The policy name of a migration's flow log for `target`.
pub fn policy_name(target: &str) -> String {
    child_name("migrate", target)
}

/// Every file of the three folders, by relative path. An NSG flow log whose NSG a FlowLogPolicy already manages
/// (`existing`) is switched off through that policy: its manifest in step 2 is that policy (same name and namespace)
/// with `spec.flowLog` replaced, and in `rollback/` that policy as it is.
pub fn manifests(plans: &[RegionPlan], options: &Options, existing: &Existing) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut step = |dir: &str, docs: Vec<(String, Value)>| {
        let mut resources = Vec::new();
        for (name, doc) in docs {
            let file = format!("{name}.yaml");
            files.insert(format!("{dir}/{file}"), to_yaml(&doc));
            resources.push(file);
        }
        let kustomization = json!({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": resources,
        });
        files.insert(format!("{dir}/kustomization.yaml"), to_yaml(&kustomization));
    };

    let create = plans
        .iter()
        .flat_map(|p| &p.create)
        .map(|c| {
            let name = policy_name(&c.target);
            let ns = options.namespace.as_deref();
            (name.clone(), policy(&name, ns, "1-create", Some(&c.from.join(",")), create_spec(c, options)))
        })
        .collect();
    step(CREATE_DIR, create);

    let migrated: Vec<_> = plans
        .iter()
        .flat_map(|p| &p.nsg_flow_logs)
        .filter(|l| matches!(l.action, NsgAction::Disable | NsgAction::DisableOnly))
        .collect();
    let disable = migrated
        .iter()
        .map(|l| {
            let (name, ns, off, _) = nsg_policy(l, options, existing);
            (file_name(l, &name, ns.as_deref(), existing), policy(&name, ns.as_deref(), "2-disable", None, off))
        })
        .collect();
    step(DISABLE_DIR, disable);
    // An NSG flow log whose own storage account cannot serve its region cannot be switched back on as it was.
    let rollback = migrated
        .iter()
        .filter(|l| !l.storage_replaced)
        .map(|l| {
            let (name, ns, _, back) = nsg_policy(l, options, existing);
            (file_name(l, &name, ns.as_deref(), existing), policy(&name, ns.as_deref(), "rollback", None, back))
        })
        .collect();
    step(ROLLBACK_DIR, rollback);
    files
}

/// The policy of a new flow log: the NSG flow log's settings; deleting the policy deletes the flow log.
pub fn create_spec(new: &NewFlowLog, options: &Options) -> FlowLogPolicySpec {
    spec(&new.target, new.settings.clone(), DeletionPolicy::Delete, options)
}

/// The settings that switch an NSG flow log off: traffic analytics goes off with it (the operator switches it off
/// first, as Azure requires).
pub fn off_settings(original: &FlowLogSettings) -> FlowLogSettings {
    let mut off = FlowLogSettings { enabled: false, ..Default::default() };
    if let Some(ta) = &original.traffic_analytics {
        off.traffic_analytics = Some(TrafficAnalytics {
            enabled: false,
            workspace_resource_id: None,
            workspace_id: None,
            workspace_region: None,
            interval_minutes: ta.interval_minutes,
        });
    }
    off
}

/// The policy that switches an NSG flow log off; deleting the policy leaves the flow log as it is (never deleted).
pub fn off_spec(nsg: &str, original: &FlowLogSettings, options: &Options) -> FlowLogPolicySpec {
    spec(nsg, off_settings(original), DeletionPolicy::Orphan, options)
}

/// The policy that puts an NSG flow log back as it was.
pub fn restore_spec(nsg: &str, original: &FlowLogSettings, options: &Options) -> FlowLogPolicySpec {
    spec(nsg, original.clone(), DeletionPolicy::Orphan, options)
}

fn spec(
    target: &str,
    flow_log: FlowLogSettings,
    deletion_policy: DeletionPolicy,
    options: &Options,
) -> FlowLogPolicySpec {
    FlowLogPolicySpec {
        target: Target { resource_id: target.to_string() },
        network_watcher: None,
        credentials_ref: None,
        flow_log,
        mode: Mode::Enforce,
        deletion_policy,
        interval: options.interval.clone().unwrap_or_else(|| "10m".into()),
    }
}

/// The policy that switches an NSG flow log off and the one that puts it back, with its name and namespace: the
/// migration's own, or the one that already manages the NSG.
fn nsg_policy(
    l: &NsgFlowLog,
    options: &Options,
    existing: &Existing,
) -> (String, Option<String>, FlowLogPolicySpec, FlowLogPolicySpec) {
    match existing.get(&l.nsg.to_ascii_lowercase()) {
        Some((ns, name, spec)) => {
            let mut off = spec.clone();
            off.flow_log = off_settings(&l.settings);
            (name.clone(), Some(ns.clone()), off, spec.clone())
        }
        None => (
            policy_name(&l.nsg),
            options.namespace.clone(),
            off_spec(&l.nsg, &l.settings, options),
            restore_spec(&l.nsg, &l.settings, options),
        ),
    }
}

/// An existing policy's file is named `<namespace>.<name>`, so that two namespaces' policies of one name do not
/// collide.
fn file_name(l: &NsgFlowLog, name: &str, namespace: Option<&str>, existing: &Existing) -> String {
    match namespace {
        Some(ns) if existing.contains_key(&l.nsg.to_ascii_lowercase()) => format!("{ns}.{name}"),
        _ => name.to_string(),
    }
}

fn policy(name: &str, namespace: Option<&str>, step: &str, from: Option<&str>, spec: FlowLogPolicySpec) -> Value {
    let mut metadata = json!({"name": name, "labels": {STEP_LABEL: step}});
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    if let Some(from) = from {
        metadata["annotations"] = json!({MIGRATED_FROM_ANNOTATION: from});
    }
    json!({"apiVersion": "flowlog.dev/v1alpha1", "kind": "FlowLogPolicy", "metadata": metadata, "spec": spec})
}

fn to_yaml(value: &Value) -> String {
    serde_saphyr::to_string(value).expect("JSON values always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::FlowLogPolicy;
    use crate::migrate::analysis::TargetKind;

    const NSG: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/web";
    const VNET: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/app";
    const STORAGE: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/weu";

    fn plan() -> RegionPlan {
        let on = FlowLogSettings { enabled: true, storage_id: Some(STORAGE.into()), ..Default::default() };
        let nsg_log = |nsg: &str, action| NsgFlowLog {
            id: format!("{nsg}-log"),
            nsg: nsg.into(),
            enabled: true,
            settings: on.clone(),
            action,
            covered_by: vec![],
            reasons: vec![],
            storage_replaced: false,
        };
        RegionPlan {
            nsg_flow_logs: vec![nsg_log(NSG, NsgAction::Disable), nsg_log(&format!("{NSG}2"), NsgAction::Blocked)],
            create: vec![NewFlowLog {
                target: VNET.into(),
                kind: TargetKind::VirtualNetwork,
                settings: on.clone(),
                from: vec![format!("{NSG}-log")],
                aggregates: vec![],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn three_kustomizations_of_policies_that_parse_back() {
        let files = manifests(&[plan()], &Options { namespace: Some("net".into()), interval: None }, &Existing::new());
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        let create = format!("{CREATE_DIR}/{}.yaml", policy_name(VNET));
        let disable = format!("{DISABLE_DIR}/{}.yaml", policy_name(NSG));
        let rollback = format!("{ROLLBACK_DIR}/{}.yaml", policy_name(NSG));
        for expected in [&create, &disable, &rollback] {
            assert!(names.contains(&expected.as_str()), "{expected} in {names:?}");
        }
        assert_eq!(names.len(), 6, "one policy per folder (the blocked NSG log is left alone) and 3 kustomizations");
        let created: FlowLogPolicy = serde_saphyr::from_str(&files[&create]).unwrap();
        assert_eq!(created.spec.target.resource_id, VNET);
        assert_eq!(created.spec.deletion_policy, DeletionPolicy::Delete);
        assert_eq!(created.metadata.namespace.as_deref(), Some("net"));
        assert_eq!(created.metadata.annotations.unwrap()[MIGRATED_FROM_ANNOTATION], format!("{NSG}-log"));
        let off: FlowLogPolicy = serde_saphyr::from_str(&files[&disable]).unwrap();
        assert!(!off.spec.flow_log.enabled);
        assert_eq!(off.spec.deletion_policy, DeletionPolicy::Orphan, "step 2 never deletes an NSG flow log");
        let back: FlowLogPolicy = serde_saphyr::from_str(&files[&rollback]).unwrap();
        assert_eq!(back.spec.flow_log.storage_id.as_deref(), Some(STORAGE));
        let kustomization: Value = serde_saphyr::from_str(&files[&format!("{CREATE_DIR}/kustomization.yaml")]).unwrap();
        assert_eq!(kustomization["resources"], json!([format!("{}.yaml", policy_name(VNET))]));
    }

    #[test]
    fn an_nsg_a_policy_already_manages_is_switched_off_through_that_policy() {
        let mut theirs = spec(
            NSG,
            FlowLogSettings { enabled: true, storage_id: Some(STORAGE.into()), ..Default::default() },
            DeletionPolicy::Disable,
            &Options::default(),
        );
        theirs.interval = "5m".into();
        let existing =
            Existing::from([(NSG.to_ascii_lowercase(), ("team".to_string(), "web".to_string(), theirs.clone()))]);
        let files = manifests(&[plan()], &Options { namespace: Some("net".into()), interval: None }, &existing);
        let off: FlowLogPolicy = serde_saphyr::from_str(&files[&format!("{DISABLE_DIR}/team.web.yaml")]).unwrap();
        assert_eq!((off.metadata.namespace.as_deref(), off.metadata.name.as_deref()), (Some("team"), Some("web")));
        assert!(!off.spec.flow_log.enabled);
        assert_eq!(
            (off.spec.interval.as_str(), off.spec.deletion_policy),
            ("5m", DeletionPolicy::Disable),
            "the rest of their spec kept"
        );
        let back: FlowLogPolicy = serde_saphyr::from_str(&files[&format!("{ROLLBACK_DIR}/team.web.yaml")]).unwrap();
        assert_eq!(back.spec, theirs);
        assert!(
            !files.contains_key(&format!("{DISABLE_DIR}/{}.yaml", policy_name(NSG))),
            "no second policy for the NSG"
        );
    }
}
