//! Validated manifests → the policies they declare ([`Intent`]s), with what changed since `--before` (pure).

use std::collections::BTreeMap;

use super::{Intent, Invalid};
use crate::api::{FlowLogPolicy, FlowLogPolicySet};
use crate::reconcile::set::{CONFIRM_PRUNE_ANNOTATION, Child, Coverage, Selection, changes, select};
use crate::sync::Discovery;
use crate::validate::Verdict;
use crate::validate::stream::Document;

/// What a set of manifests declares.
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    pub policies: Vec<Intent>,
    /// Sets, with where each comes from.
    pub sets: Vec<(FlowLogPolicySet, String)>,
    pub invalid: Vec<Invalid>,
    /// Documents of other kinds.
    pub ignored: Vec<String>,
    /// Objects declared twice.
    pub errors: Vec<String>,
}

const KINDS: [&str; 2] = ["FlowLogPolicy", "FlowLogPolicySet"];

/// Reads validated documents; objects without a namespace go to `namespace` (as `kubectl apply -n` does).
pub fn collect(documents: &[Document], namespace: &str) -> Manifests {
    let mut out = Manifests::default();
    let mut seen: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for document in documents {
        let place = format!("{}#{}", document.source, document.index);
        if let Some(kind) = document.kind.as_deref().filter(|k| !KINDS.contains(k)) {
            let name = document.name.as_deref().unwrap_or("(no name)");
            out.ignored.push(format!("{place} {kind} {name}"));
            continue;
        }
        let value = match &document.verdict {
            Ok(Verdict::Accepted(value)) => value.clone(),
            Ok(Verdict::Rejected(errors)) => {
                let errors = errors.iter().map(ToString::to_string).collect();
                out.invalid.push(Invalid { document: describe(document), errors });
                continue;
            }
            Err(e) => {
                out.invalid.push(Invalid { document: describe(document), errors: vec![e.clone()] });
                continue;
            }
        };
        let ns = document.namespace.clone().unwrap_or_else(|| namespace.to_string());
        let name = document.name.clone().unwrap_or_default();
        let kind = document.kind.clone().unwrap_or_default();
        if let Some(first) = seen.insert((kind.clone(), ns.clone(), name.clone()), place.clone()) {
            out.errors.push(format!(
                "{kind} {ns}/{name} is declared twice ({first} and {place}): applying both, the later replaces the first"
            ));
            continue;
        }
        let decoded = if kind == "FlowLogPolicy" {
            serde_json::from_value::<FlowLogPolicy>(value).map(|p| {
                out.policies.push(Intent {
                    namespace: ns,
                    name,
                    spec: p.spec,
                    origin: place.clone(),
                    existed: false,
                    removed: false,
                })
            })
        } else {
            serde_json::from_value::<FlowLogPolicySet>(value).map(|mut set| {
                set.metadata.namespace = Some(ns);
                out.sets.push((set, place.clone()))
            })
        };
        if let Err(e) = decoded {
            out.invalid.push(Invalid { document: describe(document), errors: vec![e.to_string()] });
        }
    }
    out
}

fn describe(document: &Document) -> String {
    let mut s = format!("{}#{} {}", document.source, document.index, document.kind.as_deref().unwrap_or("(no kind)"));
    match (&document.namespace, &document.name) {
        (Some(ns), Some(name)) => s.push_str(&format!(" {ns}/{name}")),
        (None, Some(name)) => s.push_str(&format!(" {name}")),
        _ => {}
    }
    s
}

/// The policies `set` generates for what discovery found, as the set controller would create them, with the
/// selection they come from; targets a policy of `standalone` manages are left to it (as the set controller does).
pub fn expand(
    set: &FlowLogPolicySet,
    origin: &str,
    discovery: &Discovery,
    standalone: &[Intent],
) -> (Selection, Vec<Intent>) {
    let managed_elsewhere = |target: &str| {
        standalone
            .iter()
            .find(|p| !p.removed && crate::azure::id::same_id(&p.spec.target.resource_id, target))
            .map(|p| format!("FlowLogPolicy {}", p.policy()))
    };
    let namespace = set.metadata.namespace.clone().unwrap_or_default();
    let set_name = set.metadata.name.clone().unwrap_or_default();
    let selection = select(set, &discovery.found, &managed_elsewhere);
    let intents = selection
        .targets
        .values()
        .filter_map(|coverage| match coverage {
            Coverage::Policy { name, spec } => Some(Intent {
                namespace: namespace.clone(),
                name: name.clone(),
                spec: (**spec).clone(),
                origin: format!("FlowLogPolicySet {namespace}/{set_name} ({origin})"),
                existed: false,
                removed: false,
            }),
            Coverage::NotCovered { .. } => None,
        })
        .collect();
    (selection, intents)
}

/// The policies a set generated before the change (`before`) that its selection now (`now`) drops but that the set
/// controller keeps: its prune guard holds back a prune of more than `spec.pruning.maxPrunePercent` of its policies
/// until confirmed ([`changes`]). With the warning to show.
pub fn held_back(set: &FlowLogPolicySet, now: &Selection, before: &[Intent]) -> (Vec<Intent>, Option<String>) {
    let children: Vec<Child> = before
        .iter()
        .map(|i| Child { name: i.name.clone(), target: i.spec.target.resource_id.clone(), spec: i.spec.clone() })
        .collect();
    let confirmed = set.metadata.annotations.as_ref().and_then(|a| a.get(CONFIRM_PRUNE_ANNOTATION));
    let planned =
        changes(Some(now), true, &children, set.spec.pruning.max_prune_percent, confirmed.map(String::as_str));
    let Some(blocked) = planned.blocked else { return (Vec::new(), None) };
    let wanted: std::collections::BTreeSet<&str> = now
        .targets
        .values()
        .filter_map(|c| match c {
            Coverage::Policy { name, .. } => Some(name.as_str()),
            Coverage::NotCovered { .. } => None,
        })
        .collect();
    let kept = before.iter().filter(|i| !wanted.contains(i.name.as_str())).cloned().collect();
    let warning = format!(
        "FlowLogPolicySet {}/{}: the change drops {} of its {} policies, more than spec.pruning.maxPrunePercent ({}%): \
         the set holds the prune back (PruneBlocked) and nothing is pruned until the set is annotated \
         {CONFIRM_PRUNE_ANNOTATION}={}",
        set.metadata.namespace.as_deref().unwrap_or_default(),
        set.metadata.name.as_deref().unwrap_or_default(),
        blocked.would_prune,
        blocked.policies,
        set.spec.pruning.max_prune_percent,
        blocked.confirm_with
    );
    (kept, Some(warning))
}

/// The manifests now (`after`) against the manifests before the change (`before`): policies in both are marked
/// as existing (older than new ones), policies only in `before` are added as removed (their deletion policy runs).
pub fn compare(after: Vec<Intent>, before: Vec<Intent>) -> Vec<Intent> {
    let key = |i: &Intent| (i.namespace.clone(), i.name.clone());
    let kept: std::collections::BTreeSet<_> = before.iter().map(key).collect();
    let now: std::collections::BTreeSet<_> = after.iter().map(key).collect();
    let mut out: Vec<Intent> = after.into_iter().map(|i| Intent { existed: kept.contains(&key(&i)), ..i }).collect();
    out.extend(before.into_iter().filter(|i| !now.contains(&key(i))).map(|i| Intent {
        existed: true,
        removed: true,
        ..i
    }));
    out
}

/// Warnings for removed policies whose target a remaining policy names: deleting the old one carries out its
/// deletion policy first, then the other writes its spec again.
pub fn hand_over_warnings(intents: &[Intent]) -> Vec<String> {
    intents
        .iter()
        .filter(|r| r.removed && r.spec.deletion_policy != crate::api::DeletionPolicy::Orphan)
        .filter_map(|removed| {
            let heir = intents.iter().find(|i| {
                !i.removed && crate::azure::id::same_id(&i.spec.target.resource_id, &removed.spec.target.resource_id)
            })?;
            Some(format!(
                "{} is removed and {} names the same target: deleting {} carries out its deletionPolicy ({:?}) first, \
                 then {} writes its spec again; set deletionPolicy: Orphan on {} before removing it to hand the \
                 target over without a gap",
                removed.policy(),
                heir.policy(),
                removed.policy(),
                removed.spec.deletion_policy,
                heir.policy(),
                removed.policy()
            ))
        })
        .collect()
}
