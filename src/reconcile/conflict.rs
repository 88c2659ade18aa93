//! Two policies for one Azure resource would fight over it. The oldest policy keeps it; the rule depends only
//! on immutable facts (creation time, then namespace/name), so the answer never flips between reconciles.

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
}
