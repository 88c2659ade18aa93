//! The ARM operations: the legacy flow-log actions, the `flowLogs` resource, generic resource reads and
//! resource-provider registration.

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use super::client::{ArmClient, read_json};
use super::error::ArmError;
use super::id::ResourceId;
use super::model::{
    API_VERSION, ArmResource, FlowLog, FlowLogInformation, FlowLogStatusParameters, ListResult, PROVIDERS_API_VERSION,
    Provider, UserAssignedIdentity,
};
use super::operation::{Began, Operation, OperationKind, Progress};

/// A resource provider's registration state in a subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationState {
    NotRegistered,
    Registering,
    Registered,
    Unregistering,
    /// Anything else Azure reports, verbatim.
    Other(String),
}

impl RegistrationState {
    pub fn parse(state: &str) -> RegistrationState {
        match state.to_ascii_lowercase().as_str() {
            "notregistered" => RegistrationState::NotRegistered,
            "registering" => RegistrationState::Registering,
            "registered" => RegistrationState::Registered,
            "unregistering" => RegistrationState::Unregistering,
            _ => RegistrationState::Other(state.to_string()),
        }
    }

    pub fn is_registered(&self) -> bool {
        *self == RegistrationState::Registered
    }

    pub fn as_str(&self) -> &str {
        match self {
            RegistrationState::NotRegistered => "NotRegistered",
            RegistrationState::Registering => "Registering",
            RegistrationState::Registered => "Registered",
            RegistrationState::Unregistering => "Unregistering",
            RegistrationState::Other(s) => s,
        }
    }
}

/// The api-version [`ArmClient::get_resource`] uses for a resource provider namespace.
pub fn api_version_for(namespace: &str) -> Option<&'static str> {
    const VERSIONS: [(&str, &str); 5] = [
        ("Microsoft.Network", API_VERSION),
        ("Microsoft.OperationalInsights", "2023-09-01"),
        ("Microsoft.Storage", "2023-05-01"),
        ("Microsoft.ManagedIdentity", "2023-01-31"),
        ("Microsoft.Resources", PROVIDERS_API_VERSION),
    ];
    VERSIONS.iter().find(|(ns, _)| ns.eq_ignore_ascii_case(namespace)).map(|(_, v)| *v)
}

/// A follow-the-`nextLink` loop ends after this many pages, whatever the server says.
const MAX_PAGES: usize = 1000;

impl ArmClient {
    /// `POST .../networkWatchers/{nw}/queryFlowLogStatus` (long-running, final state via `Location`), polled to
    /// its end.
    pub async fn query_flow_log_status(
        &self,
        watcher: &ResourceId,
        target_resource_id: &str,
    ) -> Result<FlowLogInformation, ArmError> {
        let (url, body) = self.query_request(watcher, target_resource_id)?;
        parse(&self.run_to_end(OperationKind::QueryFlowLogStatus, Method::POST, &url, Some(&body)).await?)
    }

    /// Starts `queryFlowLogStatus` without waiting for it: the answer, or the operation to poll.
    pub async fn begin_query_flow_log_status(
        &self,
        watcher: &ResourceId,
        target_resource_id: &str,
    ) -> Result<Began, ArmError> {
        let (url, body) = self.query_request(watcher, target_resource_id)?;
        self.begin(OperationKind::QueryFlowLogStatus, Method::POST, &url, Some(&body)).await
    }

    fn query_request(
        &self,
        watcher: &ResourceId,
        target_resource_id: &str,
    ) -> Result<(Url, FlowLogStatusParameters), ArmError> {
        let body = FlowLogStatusParameters { target_resource_id: target_resource_id.to_string() };
        Ok((self.url(watcher.as_str(), ["queryFlowLogStatus"], API_VERSION)?, body))
    }

    /// `POST .../networkWatchers/{nw}/configureFlowLog` (long-running, final state via `Location`), polled to its
    /// end. Returns the configuration Azure reports once the operation finished. Holds the target's write lock
    /// throughout.
    pub async fn configure_flow_log(
        &self,
        watcher: &ResourceId,
        info: &FlowLogInformation,
    ) -> Result<FlowLogInformation, ArmError> {
        let url = self.url(watcher.as_str(), ["configureFlowLog"], API_VERSION)?;
        let _write = self.lock_target(&info.target_resource_id).await;
        parse(&self.run_to_end(OperationKind::ConfigureFlowLog, Method::POST, &url, Some(info)).await?)
    }

    /// Starts `configureFlowLog` without waiting for it (the target's write lock is held while sending).
    pub async fn begin_configure_flow_log(
        &self,
        watcher: &ResourceId,
        info: &FlowLogInformation,
    ) -> Result<Began, ArmError> {
        let url = self.url(watcher.as_str(), ["configureFlowLog"], API_VERSION)?;
        let _write = self.lock_target(&info.target_resource_id).await;
        self.begin(OperationKind::ConfigureFlowLog, Method::POST, &url, Some(info)).await
    }

    /// One step of an operation started by a `begin_*` call (or read back from a resume token).
    pub async fn resume(&self, operation: Operation) -> Result<Progress, ArmError> {
        self.advance(operation).await
    }

    fn flow_log_url(&self, watcher: &ResourceId, name: &str) -> Result<Url, ArmError> {
        if name.is_empty() {
            return Err(ArmError::Config("a flow log needs a name".into()));
        }
        self.url(watcher.as_str(), ["flowLogs", name], API_VERSION)
    }

    /// `GET .../networkWatchers/{nw}/flowLogs/{name}`; `None` when Azure answers 404.
    pub async fn get_flow_log(&self, watcher: &ResourceId, name: &str) -> Result<Option<FlowLog>, ArmError> {
        let url = self.flow_log_url(watcher, name)?;
        match self.send::<()>("getFlowLog", Method::GET, &url, None).await {
            Ok(response) => read_json(response).await.map(Some),
            Err(ArmError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET .../networkWatchers/{nw}/flowLogs`, every page.
    pub async fn list_flow_logs(&self, watcher: &ResourceId) -> Result<Vec<FlowLog>, ArmError> {
        let url = self.url(watcher.as_str(), ["flowLogs"], API_VERSION)?;
        self.list_all("listFlowLogs", url).await
    }

    /// `PUT .../networkWatchers/{nw}/flowLogs/{name}` (long-running, final state via `Azure-AsyncOperation`,
    /// then a GET of the flow log), polled to its end. Read-only fields of `flow_log` are not sent; `location` is
    /// required. Returns the flow log as Azure reports it once provisioned; a `provisioningState` of `Failed` or
    /// `Canceled` is an [`ArmError::OperationFailed`]. Holds the target's write lock throughout.
    pub async fn put_flow_log(
        &self,
        watcher: &ResourceId,
        name: &str,
        flow_log: &FlowLog,
    ) -> Result<FlowLog, ArmError> {
        let (url, body) = self.put_request(watcher, name, flow_log)?;
        let _write = self.lock_target(&flow_log.properties.target_resource_id).await;
        let bytes = self.run_to_end(OperationKind::PutFlowLog, Method::PUT, &url, Some(&body)).await?;
        provisioned(parse(&bytes)?, name, watcher)
    }

    /// Starts the PUT of a flow log without waiting for it (the target's write lock is held while sending).
    pub async fn begin_put_flow_log(
        &self,
        watcher: &ResourceId,
        name: &str,
        flow_log: &FlowLog,
    ) -> Result<Began, ArmError> {
        let (url, body) = self.put_request(watcher, name, flow_log)?;
        let _write = self.lock_target(&flow_log.properties.target_resource_id).await;
        self.begin(OperationKind::PutFlowLog, Method::PUT, &url, Some(&body)).await
    }

    fn put_request(&self, watcher: &ResourceId, name: &str, flow_log: &FlowLog) -> Result<(Url, FlowLog), ArmError> {
        let url = self.flow_log_url(watcher, name)?;
        if flow_log.location.as_deref().unwrap_or_default().is_empty() {
            return Err(ArmError::Config(format!("flow log {name}: location is required (the watcher's region)")));
        }
        Ok((url, writable(flow_log)))
    }

    /// `DELETE .../networkWatchers/{nw}/flowLogs/{name}` (long-running, final state via `Location`: 202 is
    /// polled until 200/204). Reads the flow log first to learn its target (whose write lock it holds while
    /// deleting). Returns whether there was a flow log to delete.
    pub async fn delete_flow_log(&self, watcher: &ResourceId, name: &str) -> Result<bool, ArmError> {
        let Some(existing) = self.get_flow_log(watcher, name).await? else {
            return Ok(false);
        };
        let url = self.flow_log_url(watcher, name)?;
        let _write = self.lock_target(&existing.properties.target_resource_id).await;
        match self.run_to_end::<()>(OperationKind::DeleteFlowLog, Method::DELETE, &url, None).await {
            Ok(_) => Ok(true),
            Err(ArmError::Api { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `GET {id}` of any tracked resource (target, watcher, workspace, storage account), with the
    /// api-version [`api_version_for`] its namespace.
    pub async fn get_resource(&self, id: &ResourceId) -> Result<ArmResource, ArmError> {
        let api_version = api_version_for(&id.namespace).ok_or_else(|| {
            ArmError::Config(format!(
                "no api-version known for {}; use get_resource_with_api_version",
                id.resource_type()
            ))
        })?;
        self.get_resource_with_api_version(id, api_version).await
    }

    pub async fn get_resource_with_api_version(
        &self,
        id: &ResourceId,
        api_version: &str,
    ) -> Result<ArmResource, ArmError> {
        let url = self.url(id.as_str(), [], api_version)?;
        read_json(self.send::<()>("getResource", Method::GET, &url, None).await?).await
    }

    /// `GET /subscriptions/{sub}/providers/{namespace}` (api-version 2021-04-01).
    pub async fn get_provider(&self, subscription: &str, namespace: &str) -> Result<Provider, ArmError> {
        let url = self.url(&format!("subscriptions/{subscription}/providers"), [namespace], PROVIDERS_API_VERSION)?;
        read_json(self.send::<()>("getProvider", Method::GET, &url, None).await?).await
    }

    /// The registration state of `namespace` (e.g. `Microsoft.Insights`) in the subscription.
    pub async fn provider_registration_state(
        &self,
        subscription: &str,
        namespace: &str,
    ) -> Result<RegistrationState, ArmError> {
        let provider = self.get_provider(subscription, namespace).await?;
        Ok(RegistrationState::parse(provider.registration_state.as_deref().unwrap_or("NotRegistered")))
    }

    /// `POST /subscriptions/{sub}/providers/{namespace}/register`. Registration is asynchronous: the answer
    /// usually says `Registering`; poll [`ArmClient::provider_registration_state`] later.
    pub async fn register_provider(&self, subscription: &str, namespace: &str) -> Result<Provider, ArmError> {
        let url = self.url(
            &format!("subscriptions/{subscription}/providers"),
            [namespace, "register"],
            PROVIDERS_API_VERSION,
        )?;
        let response = self.send::<()>("registerProvider", Method::POST, &url, None).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(Provider { namespace: namespace.to_string(), ..Default::default() });
        }
        read_json(response).await
    }

    /// Every item of an ARM list, following `nextLink`.
    pub(super) async fn list_all<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        first: Url,
    ) -> Result<Vec<T>, ArmError> {
        let mut items = Vec::new();
        let mut url = first;
        for _ in 0..MAX_PAGES {
            let page: ListResult<T> = read_json(self.send::<()>(operation, Method::GET, &url, None).await?).await?;
            items.extend(page.value);
            match page.next_link.filter(|link| !link.is_empty()) {
                Some(link) => {
                    let next = self.followable("nextLink", &link)?;
                    if next == url {
                        return Err(ArmError::InvalidResponse(format!("nextLink {link:?} points to the same page")));
                    }
                    url = next;
                }
                None => return Ok(items),
            }
        }
        Err(ArmError::InvalidResponse(format!("{operation}: more than {MAX_PAGES} pages")))
    }
}

/// A final answer's JSON body.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ArmError> {
    serde_json::from_slice(bytes).map_err(|e| ArmError::InvalidResponse(format!("unreadable body: {e}")))
}

/// A flow log whose write ended: `Failed` or `Canceled` provisioning is the operation's failure.
pub fn provisioned(done: FlowLog, name: &str, watcher: &ResourceId) -> Result<FlowLog, ArmError> {
    match done.properties.provisioning_state.as_deref() {
        Some(state @ ("Failed" | "Canceled")) => Err(ArmError::OperationFailed {
            status: state.to_string(),
            code: format!("Provisioning{state}"),
            message: format!("flow log {name} on {watcher} ended in provisioningState {state}"),
            request_id: None,
        }),
        _ => Ok(done),
    }
}

/// The flow log without its read-only fields: what a PUT may carry.
fn writable(flow_log: &FlowLog) -> FlowLog {
    let mut body = flow_log.clone();
    body.id = None;
    body.name = None;
    body.resource_type = None;
    body.etag = None;
    body.properties.provisioning_state = None;
    body.properties.target_resource_guid = None;
    if let Some(identity) = body.identity.as_mut() {
        identity.principal_id = None;
        identity.tenant_id = None;
        if let Some(identities) = identity.user_assigned_identities.as_mut() {
            identities.values_mut().for_each(|v| *v = UserAssignedIdentity::default());
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::model::{FlowLogPropertiesFormat, ManagedServiceIdentity};

    #[test]
    fn registration_states_parse_case_insensitively() {
        assert!(RegistrationState::parse("registered").is_registered());
        assert_eq!(RegistrationState::parse("NotRegistered"), RegistrationState::NotRegistered);
        assert_eq!(RegistrationState::parse("Pending").as_str(), "Pending");
    }

    #[test]
    fn api_versions_per_namespace() {
        assert_eq!(api_version_for("microsoft.network"), Some("2025-07-01"));
        assert_eq!(api_version_for("Microsoft.OperationalInsights"), Some("2023-09-01"));
        assert_eq!(api_version_for("Microsoft.Compute"), None);
    }

    #[test]
    fn puts_carry_no_read_only_fields() {
        let uami = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1";
        let read = FlowLog {
            id: Some("/x/FlowLogs/fl".into()),
            name: Some("fl".into()),
            resource_type: Some("Microsoft.Network/networkWatchers/FlowLogs".into()),
            location: Some("westeurope".into()),
            etag: Some("W/\"1\"".into()),
            identity: Some(ManagedServiceIdentity {
                identity_type: Some("UserAssigned".into()),
                principal_id: Some("p".into()),
                tenant_id: Some("t".into()),
                user_assigned_identities: Some(
                    [(
                        uami.to_string(),
                        UserAssignedIdentity { principal_id: Some("p".into()), client_id: Some("c".into()) },
                    )]
                    .into(),
                ),
            }),
            properties: FlowLogPropertiesFormat {
                target_resource_id: "/t".into(),
                target_resource_guid: Some("g".into()),
                storage_id: "/st".into(),
                enabled: Some(true),
                provisioning_state: Some("Succeeded".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let json = serde_json::to_value(writable(&read)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "location": "westeurope",
                "identity": {"type": "UserAssigned", "userAssignedIdentities": {uami: {}}},
                "properties": {"targetResourceId": "/t", "storageId": "/st", "enabled": true}
            })
        );
    }
}
