//! Two policies for one Azure resource would fight over it. The oldest policy keeps it; the rule depends only
//! on immutable facts (creation time, then namespace/name), so the answer never flips between reconciles.
//! [`TargetIndex`] answers "who else targets this resource" from an index kept up to date by the watch, so a
//! reconcile's cost does not grow with the number of policies.

use std::collections::HashMap;

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

/// The policies by target: each entry under its normalised target ID and under its namespace/name. A target's
/// policies are a sorted `Vec`: nearly always one, and a set's tree node would cost ten times its size.
#[derive(Debug, Default)]
pub struct TargetIndex {
    by_object: HashMap<(String, String), PolicyKey>,
    by_target: HashMap<Box<str>, Vec<(String, String)>>,
}

impl TargetIndex {
    /// Adds a policy, or replaces what the index knew of it (its target is immutable, but a replaced object can
    /// come back with another one).
    pub fn upsert(&mut self, key: PolicyKey) {
        self.remove(&key.namespace, &key.name);
        let object = (key.namespace.clone(), key.name.clone());
        let objects = self.by_target.entry(normalized(&key.target).into()).or_default();
        if let Err(at) = objects.binary_search(&object) {
            objects.insert(at, object.clone());
        }
        self.by_object.insert(object, key);
    }

    pub fn remove(&mut self, namespace: &str, name: &str) {
        let object = (namespace.to_string(), name.to_string());
        if let Some(old) = self.by_object.remove(&object) {
            let target = normalized(&old.target);
            if let Some(objects) = self.by_target.get_mut(target.as_str()) {
                objects.retain(|o| *o != object);
                if objects.is_empty() {
                    self.by_target.remove(target.as_str());
                }
            }
        }
    }

    /// The other policies with `me`'s target.
    pub fn others<'a>(&'a self, me: &'a PolicyKey) -> impl Iterator<Item = &'a PolicyKey> + 'a {
        self.by_target
            .get(normalized(&me.target).as_str())
            .into_iter()
            .flatten()
            .filter(move |(ns, name)| !(*ns == me.namespace && *name == me.name))
            .filter_map(|object| self.by_object.get(object))
    }

    /// The policies (namespace, name) whose target is `target` (compared as ARM IDs are).
    pub fn of_target(&self, target: &str) -> Vec<(String, String)> {
        self.by_target.get(normalized(target).as_str()).into_iter().flatten().cloned().collect()
    }

    /// [`owner_of`] among the policies with `me`'s target.
    pub fn owner_of<'a>(&'a self, me: &'a PolicyKey) -> Option<&'a PolicyKey> {
        owner_of(me, self.others(me))
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
        assert_eq!(index.owner_of(&new), Some(&old));
        assert_eq!(index.owner_of(&old), None);
        assert_eq!(index.owner_of(&other), None);
        assert_eq!(index.others(&old).collect::<Vec<_>>(), vec![&new]);

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
