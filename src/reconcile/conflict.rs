//! Two policies for one Azure resource would fight over it. The oldest policy keeps it; the rule depends only
//! on immutable facts (creation time, then namespace/name), so the answer never flips between reconciles.
//! [`TargetIndex`] answers "who else targets this resource" from an index kept up to date by the watch, so a
//! reconcile's cost does not grow with the number of policies.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;

use crate::azure::id::same_id;

/// What conflict resolution needs to know about a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyKey {
    pub namespace: String,
    pub name: String,
    pub created: Option<Timestamp>,
    pub target: String,
    /// Policies being deleted give the target up.
    pub deleting: bool,
}

impl PolicyKey {
    fn rank(&self) -> (Option<Timestamp>, &str, &str) {
        (self.created, &self.namespace, &self.name)
    }

    pub fn display(&self) -> String {
        format!("FlowLogPolicy {}/{}", self.namespace, self.name)
    }
}

/// The policy that owns `me`'s target when it is not `me`: the oldest live policy with the same target.
pub fn owner_of<'a>(me: &PolicyKey, all: impl IntoIterator<Item = &'a PolicyKey>) -> Option<&'a PolicyKey> {
    all.into_iter()
        .filter(|p| !p.deleting && same_id(&p.target, &me.target))
        .filter(|p| !(p.namespace == me.namespace && p.name == me.name))
        .filter(|p| p.rank() < me.rank())
        .min_by(|a, b| a.rank().cmp(&b.rank()))
}

/// An ARM ID as the index compares it: ARM IDs are case-insensitive and a trailing slash means nothing.
fn normalized(target: &str) -> String {
    target.trim_end_matches('/').to_ascii_lowercase()
}

/// One policy as the index keeps it: [`PolicyKey`]'s facts but the target (the map's key), its namespace and
/// name in one string shared with the other map.
#[derive(Clone, Debug)]
struct Entry {
    /// `namespace/name` (neither may contain a `/`).
    object: Arc<str>,
    created: Option<Timestamp>,
    deleting: bool,
}

impl Entry {
    fn namespace_and_name(&self) -> (&str, &str) {
        self.object.split_once('/').unwrap_or(("", &self.object))
    }

    fn key(&self, target: &str) -> PolicyKey {
        let (namespace, name) = self.namespace_and_name();
        PolicyKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
            created: self.created,
            target: target.to_string(),
            deleting: self.deleting,
        }
    }
}

/// The policies of one target, sorted by namespace/name: nearly always one, kept without an allocation of its own.
#[derive(Debug)]
enum Policies {
    One(Entry),
    Many(Vec<Entry>),
}

impl Policies {
    fn entries(&self) -> &[Entry] {
        match self {
            Policies::One(entry) => std::slice::from_ref(entry),
            Policies::Many(entries) => entries,
        }
    }
}

fn object(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// The policies by target: each policy under its normalised target ID, and its target under its namespace/name.
/// Memory per policy is what the fleet's size multiplies: each name and target is kept once, shared by both maps.
#[derive(Debug, Default)]
pub struct TargetIndex {
    by_target: HashMap<Arc<str>, Policies>,
    /// `namespace/name` → normalised target.
    by_object: HashMap<Arc<str>, Arc<str>>,
}

impl TargetIndex {
    /// Adds a policy, or replaces what the index knew of it (its target is immutable, but a replaced object can
    /// come back with another one).
    pub fn upsert(&mut self, key: PolicyKey) {
        self.remove(&key.namespace, &key.name);
        let object: Arc<str> = object(&key.namespace, &key.name).into();
        let target: Arc<str> = normalized(&key.target).into();
        let entry = Entry { object: object.clone(), created: key.created, deleting: key.deleting };
        let policies = match self.by_target.remove(&target) {
            None => Policies::One(entry),
            Some(policies) => {
                let mut entries = match policies {
                    Policies::One(one) => vec![one],
                    Policies::Many(many) => many,
                };
                let at = entries.binary_search_by(|e| e.namespace_and_name().cmp(&entry.namespace_and_name()));
                entries.insert(at.unwrap_or_else(|at| at), entry);
                Policies::Many(entries)
            }
        };
        self.by_target.insert(target.clone(), policies);
        self.by_object.insert(object, target);
    }

    pub fn remove(&mut self, namespace: &str, name: &str) {
        let object = object(namespace, name);
        let Some(target) = self.by_object.remove(object.as_str()) else { return };
        let Some(policies) = self.by_target.remove(&target) else { return };
        let mut entries = match policies {
            Policies::One(one) => vec![one],
            Policies::Many(many) => many,
        };
        entries.retain(|e| *e.object != *object);
        match entries.len() {
            0 => {}
            1 => {
                self.by_target.insert(target, Policies::One(entries.remove(0)));
            }
            _ => {
                self.by_target.insert(target, Policies::Many(entries));
            }
        }
    }

    /// The other policies with `me`'s target.
    pub fn others<'a>(&'a self, me: &'a PolicyKey) -> impl Iterator<Item = PolicyKey> + 'a {
        self.by_target
            .get(normalized(&me.target).as_str())
            .map(Policies::entries)
            .unwrap_or_default()
            .iter()
            .filter(move |e| e.namespace_and_name() != (me.namespace.as_str(), me.name.as_str()))
            .map(move |e| e.key(&me.target))
    }

    /// The policies (namespace, name) whose target is `target` (compared as ARM IDs are).
    pub fn of_target(&self, target: &str) -> Vec<(String, String)> {
        let entries = self.by_target.get(normalized(target).as_str()).map(Policies::entries).unwrap_or_default();
        entries
            .iter()
            .map(|e| {
                let (namespace, name) = e.namespace_and_name();
                (namespace.to_string(), name.to_string())
            })
            .collect()
    }

    /// [`owner_of`] among the policies with `me`'s target.
    pub fn owner_of(&self, me: &PolicyKey) -> Option<PolicyKey> {
        let others: Vec<PolicyKey> = self.others(me).collect();
        owner_of(me, &others).cloned()
    }

    pub fn len(&self) -> usize {
        self.by_object.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_object.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ns: &str, name: &str, created: i64, target: &str) -> PolicyKey {
        PolicyKey {
            namespace: ns.into(),
            name: name.into(),
            created: Some(Timestamp::from_second(created).unwrap()),
            target: target.into(),
            deleting: false,
        }
    }

    #[test]
    fn the_oldest_policy_keeps_the_target() {
        let old = key("a", "old", 100, "/subscriptions/s/resourceGroups/rg/providers/X/y/nsg");
        let new = key("b", "new", 200, "/SUBSCRIPTIONS/s/resourcegroups/RG/providers/x/Y/NSG");
        let other = key("c", "other", 50, "/subscriptions/s/resourceGroups/rg/providers/X/y/another");
        let all = [old.clone(), new.clone(), other];
        assert_eq!(owner_of(&new, &all), Some(&old));
        assert_eq!(owner_of(&old, &all), None);
    }

    #[test]
    fn ties_are_broken_by_name_and_deleting_policies_give_way() {
        let a = key("ns", "a", 100, "/t");
        let b = key("ns", "b", 100, "/t");
        assert_eq!(owner_of(&b, &[a.clone(), b.clone()]), Some(&a));
        assert_eq!(owner_of(&a, &[a.clone(), b.clone()]), None);
        let a_deleting = PolicyKey { deleting: true, ..a };
        assert_eq!(owner_of(&b, &[a_deleting, b.clone()]), None);
    }

    #[test]
    fn the_index_answers_as_a_scan_would_and_forgets_what_goes() {
        let old = key("a", "old", 100, "/subscriptions/s/resourceGroups/rg/providers/X/y/nsg");
        let new = key("b", "new", 200, "/SUBSCRIPTIONS/s/resourcegroups/RG/providers/x/Y/NSG/");
        let other = key("c", "other", 50, "/subscriptions/s/resourceGroups/rg/providers/X/y/another");
        let mut index = TargetIndex::default();
        for k in [&old, &new, &other] {
            index.upsert(k.clone());
        }
        assert_eq!(index.len(), 3);
        assert_eq!(index.owner_of(&new), Some(PolicyKey { target: new.target.clone(), ..old.clone() }));
        assert_eq!(index.owner_of(&old), None);
        assert_eq!(index.owner_of(&other), None);
        assert_eq!(
            index.others(&old).collect::<Vec<_>>(),
            vec![PolicyKey { target: old.target.clone(), ..new.clone() }]
        );

        // Deleting gives the target up; removing forgets the policy entirely.
        index.upsert(PolicyKey { deleting: true, ..old.clone() });
        assert_eq!(index.owner_of(&new), None);
        index.remove("a", "old");
        assert_eq!(index.others(&new).count(), 0);
        index.remove("b", "new");
        index.remove("c", "other");
        assert!(index.is_empty() && index.by_target.is_empty(), "nothing is kept for policies that are gone");
    }
}
