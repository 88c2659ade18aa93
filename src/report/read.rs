//! The report's reads of the cluster: list (and nothing else) FlowLogPolicySets and FlowLogPolicies in the scope,
//! then [`build`]. Failures say what is missing: the CRDs, the permission to list, the set asked for.

use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::{Api, Client, Resource};

use super::{Report, Scope, build};
use crate::api::{FlowLogPolicy, FlowLogPolicySet};

/// Why the report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(
        "the cluster does not serve {plural}.flowlog.dev: is the operator's CRD installed? \
         (kubectl apply --server-side -f crds/, or install the Helm chart)"
    )]
    NotInstalled { plural: &'static str },
    #[error(
        "not allowed to list {plural}.flowlog.dev {place}: {message}. The report needs get and list on \
         flowlogpolicysets and flowlogpolicies (API group flowlog.dev)"
    )]
    Forbidden { plural: &'static str, place: String, message: String },
    #[error("FlowLogPolicySet {namespace}/{name} not found")]
    SetNotFound { namespace: String, name: String },
    #[error("--set needs --namespace: a set's name is unique only within its namespace")]
    SetWithoutNamespace,
    #[error("listing {plural}.flowlog.dev {place}: {source}")]
    Kube {
        plural: &'static str,
        place: String,
        #[source]
        source: kube::Error,
    },
}

/// Reads what `scope` covers and builds the report.
pub async fn read(client: &Client, scope: Scope) -> Result<Report, ReadError> {
    let place = match &scope.namespace {
        Some(ns) => format!("in namespace {ns}"),
        None => "in all namespaces".to_string(),
    };
    let (sets, policies): (Api<FlowLogPolicySet>, Api<FlowLogPolicy>) = match &scope.namespace {
        Some(ns) => (Api::namespaced(client.clone(), ns), Api::namespaced(client.clone(), ns)),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let mut set_params = ListParams::default();
    if let Some(name) = &scope.set {
        if scope.namespace.is_none() {
            return Err(ReadError::SetWithoutNamespace);
        }
        // A list by name, not a get: a 404 then means a missing CRD, an empty list a missing set.
        set_params = set_params.fields(&format!("metadata.name={name}"));
    }
    let found = list(&sets, &set_params, &place).await?;
    if let (Some(name), Some(namespace), true) = (&scope.set, &scope.namespace, found.is_empty()) {
        return Err(ReadError::SetNotFound { namespace: namespace.clone(), name: name.clone() });
    }
    // Every policy of the scope, also with --set: the one that manages a target the set leaves to it
    // (ManagedElsewhere) gives that target its region.
    let policies = list(&policies, &ListParams::default(), &place).await?;
    // To the second: a report is a snapshot, not a measurement.
    let now = Timestamp::from_second(Timestamp::now().as_second()).expect("now is a valid time");
    Ok(build(&found, &policies, scope, now))
}

/// Every object of a list, page by page.
async fn list<K>(api: &Api<K>, params: &ListParams, place: &str) -> Result<Vec<K>, ReadError>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let plural = if K::kind(&()) == "FlowLogPolicySet" { "flowlogpolicysets" } else { "flowlogpolicies" };
    let mut items = Vec::new();
    let mut params = params.clone().limit(500);
    loop {
        let page = api.list(&params).await.map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => ReadError::NotInstalled { plural },
            kube::Error::Api(s) if s.code == 403 => {
                ReadError::Forbidden { plural, place: place.to_string(), message: s.message }
            }
            source => ReadError::Kube { plural, place: place.to_string(), source },
        })?;
        items.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(items),
        }
    }
}
