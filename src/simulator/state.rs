//! The simulator's state and the Network Watcher rules, kept free of HTTP so unit tests can drive them.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::inventory::{Inventory, Lro, LroMode};
use crate::azure::id::{ResourceId, same_id};
use crate::azure::model::{
    ErrorDetails, FlowLogFormatParameters, FlowLogInformation, FlowLogProperties, FlowLogStatusParameters,
    RetentionPolicyParameters, TokenResponse,
};

/// Operation names used by the counters.
pub(super) const TOKEN: &str = "token";
pub(super) const QUERY_FLOW_LOG_STATUS: &str = "queryFlowLogStatus";
pub(super) const CONFIGURE_FLOW_LOG: &str = "configureFlowLog";
pub(super) const OPERATION_STATUS: &str = "operationStatus";
pub(super) const OPERATION_RESULT: &str = "operationResult";
const OPERATIONS: [&str; 5] = [TOKEN, QUERY_FLOW_LOG_STATUS, CONFIGURE_FLOW_LOG, OPERATION_STATUS, OPERATION_RESULT];

/// Entra ID issues client-credential tokens valid for about an hour.
pub(super) const TOKEN_LIFETIME_SECS: u64 = 3599;

/// An ARM error: HTTP status and the `ErrorResponse` body.
#[derive(Debug)]
pub(super) struct ArmError {
    pub status: StatusCode,
    pub error: ErrorDetails,
}

impl ArmError {
    pub(super) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ArmError {
            status,
            error: ErrorDetails { code: code.into(), message: message.into(), target: None, details: vec![] },
        }
    }

    fn invalid_request(why: impl std::fmt::Display) -> Self {
        // invented: Azure's code for this is not published
        ArmError::new(StatusCode::BAD_REQUEST, "InvalidRequestFormat", format!("Cannot parse the request: {why}."))
    }

    fn invalid_reference(referenced: &str, by: &str) -> Self {
        let mut e = ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidResourceReference",
            format!(
                "Resource {referenced} referenced by resource {by} was not found. Please make sure that the \
                 referenced resource exists, and that both resources are in the same region."
            ),
        );
        e.error.details.push(ErrorDetails {
            code: "NotFound".into(),
            message: format!("Resource {referenced} not found."),
            target: None,
            details: vec![],
        });
        e
    }
}

/// A token-endpoint (Entra ID) error.
#[derive(Debug)]
pub(super) struct AadError {
    pub status: StatusCode,
    pub error: &'static str,
    pub code: u64,
    pub description: String,
}

impl AadError {
    fn new(status: StatusCode, error: &'static str, code: u64, text: String) -> Self {
        AadError { status, error, code, description: format!("AADSTS{code}: {text}") }
    }

    fn missing(parameter: &str) -> Self {
        let text = format!("The request body must contain the following parameter: '{parameter}'.");
        AadError::new(StatusCode::BAD_REQUEST, "invalid_request", 900144, text)
    }
}

/// What the request handlers know about the request being served.
pub(super) struct Ctx<'a> {
    /// `http://host:port`, as the client addressed the simulator.
    pub base: &'a str,
    pub api_version: &'a str,
    /// `x-ms-request-id`; a long-running operation takes it as its ID.
    pub request_id: &'a str,
}

/// `/subscriptions/{subscription}/resourceGroups/{resource_group}/.../networkWatchers/{name}` as sent.
pub(super) struct WatcherRef<'a> {
    pub subscription: &'a str,
    pub resource_group: &'a str,
    pub name: &'a str,
}

/// How an accepted long-running action answers.
#[derive(Debug)]
pub(super) enum Outcome {
    /// `sync` mode: 200 with the final body.
    Done(FlowLogInformation),
    /// `async` mode: 202 with the body, then poll the URLs.
    Accepted { body: FlowLogInformation, location_url: String, status_url: String, retry_after: u32 },
}

/// One poll of an operation.
#[derive(Debug)]
pub(super) enum Poll {
    InProgress { location_url: String, retry_after: u32 },
    Done(FlowLogInformation),
}

#[derive(Clone)]
struct Watcher {
    id: String,
    subscription: String,
    location: String,
}

struct Storage {
    id: String,
    name: String,
    location: String,
}

struct Nsg {
    id: String,
    resource_group: String,
    name: String,
    location: String,
    flow_log: Option<StoredFlowLog>,
}

struct StoredFlowLog {
    /// The flowLogs child resource Azure materialises: `Microsoft.Network{nsgResourceGroup}{nsgName}`.
    name: String,
    info: FlowLogInformation,
}

struct Operation {
    subscription: String,
    location: String,
    /// Lower-cased ID of the NSG a write operation holds.
    lock: Option<String>,
    /// Polls that will still answer "InProgress".
    remaining: u32,
    retry_after: u32,
    status_url: String,
    location_url: String,
    result: FlowLogInformation,
}

pub(super) struct State {
    inventory: Inventory,
    lro: Lro,
    watchers: Vec<Watcher>,
    storage: Vec<Storage>,
    nsgs: Vec<Nsg>,
    operations: HashMap<String, Operation>,
    tokens: HashMap<String, Instant>,
    counters: BTreeMap<String, u64>,
    reads: u64,
    writes: u64,
}

impl State {
    pub(super) fn new(inventory: Inventory) -> State {
        let mut watchers = Vec::new();
        let mut storage = Vec::new();
        for sub in &inventory.subscriptions {
            for w in &sub.network_watchers {
                watchers.push(Watcher {
                    id: format!(
                        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/networkWatchers/{}",
                        sub.id, w.resource_group, w.name
                    ),
                    subscription: sub.id.clone(),
                    location: w.location.clone(),
                });
            }
            for s in &sub.storage_accounts {
                storage.push(Storage {
                    id: format!(
                        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Storage/storageAccounts/{}",
                        sub.id, s.resource_group, s.name
                    ),
                    name: s.name.clone(),
                    location: s.location.clone(),
                });
            }
        }
        let mut nsgs = Vec::new();
        for sub in &inventory.subscriptions {
            for n in &sub.network_security_groups {
                let id = format!(
                    "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/networkSecurityGroups/{}",
                    sub.id, n.resource_group, n.name
                );
                let flow_log = n.flow_log.as_ref().map(|fl| {
                    let storage_id = fl
                        .storage_account
                        .as_ref()
                        .and_then(|name| storage.iter().find(|s| s.name.eq_ignore_ascii_case(name)))
                        .map(|s| s.id.clone())
                        .unwrap_or_default();
                    let identity = (!fl.user_assigned_identities.is_empty()).then(|| {
                        let uais: serde_json::Map<String, Value> =
                            fl.user_assigned_identities.iter().map(|id| (id.clone(), json!({}))).collect();
                        let mut identity = json!({"type": "UserAssigned", "userAssignedIdentities": uais});
                        fill_identity(&mut identity);
                        identity
                    });
                    StoredFlowLog {
                        name: flow_log_name(&n.resource_group, &n.name),
                        info: FlowLogInformation {
                            target_resource_id: id.clone(),
                            properties: FlowLogProperties {
                                storage_id,
                                enabled: fl.enabled,
                                retention_policy: fl.retention_policy,
                                format: fl.format.clone(),
                                ..Default::default()
                            },
                            flow_analytics_configuration: None,
                            identity,
                        },
                    }
                });
                nsgs.push(Nsg {
                    id,
                    resource_group: n.resource_group.clone(),
                    name: n.name.clone(),
                    location: n.location.clone(),
                    flow_log,
                });
            }
        }
        State {
            lro: inventory.behaviour.lro.clone(),
            inventory,
            watchers,
            storage,
            nsgs,
            operations: HashMap::new(),
            tokens: HashMap::new(),
            counters: OPERATIONS.iter().map(|op| (op.to_string(), 0)).collect(),
            reads: 0,
            writes: 0,
        }
    }

    pub(super) fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    pub(super) fn count(&mut self, operation: &str) {
        *self.counters.entry(operation.to_string()).or_default() += 1;
    }

    pub(super) fn counters(&self) -> BTreeMap<String, u64> {
        self.counters.clone()
    }

    pub(super) fn reset_counters(&mut self) {
        self.counters.values_mut().for_each(|n| *n = 0);
    }

    /// A plain countdown for `x-ms-ratelimit-remaining-subscription-{reads|writes}`, using the legacy hourly
    /// limits (12,000 reads, 1,200 writes) and starting over instead of throttling.
    pub(super) fn rate_limit_remaining(&mut self, write: bool) -> u64 {
        let (used, limit) = if write { (&mut self.writes, 1200) } else { (&mut self.reads, 12000) };
        *used += 1;
        limit - 1 - (*used - 1) % limit
    }

    /// The client-credentials grant. Checks run in the order Entra ID reports them.
    pub(super) fn issue_token(
        &mut self,
        tenant: &str,
        form: &HashMap<String, String>,
    ) -> Result<TokenResponse, AadError> {
        let principals = &self.inventory.service_principals;
        if !principals.iter().any(|p| p.tenant_id.eq_ignore_ascii_case(tenant)) {
            let text = format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into \
                 the correct cloud. Check with your subscription administrator, this may happen if there are no active \
                 subscriptions for the tenant."
            );
            return Err(AadError::new(StatusCode::BAD_REQUEST, "invalid_request", 90002, text));
        }
        let param = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
        let grant_type = param("grant_type").ok_or_else(|| AadError::missing("grant_type"))?;
        if grant_type != "client_credentials" {
            let text = format!("The app requested an unsupported grant type '{grant_type}'.");
            return Err(AadError::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", 70003, text));
        }
        let client_id = param("client_id").ok_or_else(|| AadError::missing("client_id"))?;
        let Some(principal) = principals
            .iter()
            .find(|p| p.tenant_id.eq_ignore_ascii_case(tenant) && p.client_id.eq_ignore_ascii_case(client_id))
        else {
            let text = format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen \
                 if the application has not been installed by the administrator of the tenant or consented to by any \
                 user in the tenant. You may have sent your authentication request to the wrong tenant."
            );
            return Err(AadError::new(StatusCode::BAD_REQUEST, "unauthorized_client", 700016, text));
        };
        let scope = param("scope").ok_or_else(|| AadError::missing("scope"))?;
        if !scope.ends_with("/.default") || scope.contains(' ') {
            let text = format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            );
            return Err(AadError::new(StatusCode::BAD_REQUEST, "invalid_scope", 70011, text));
        }
        let Some(secret) = param("client_secret") else {
            let text = "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.";
            return Err(AadError::new(StatusCode::UNAUTHORIZED, "invalid_client", 7000218, text.into()));
        };
        if secret != principal.client_secret {
            let text = format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret \
                 value, not the client secret ID, for a secret added to app '{client_id}'."
            );
            return Err(AadError::new(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, text));
        }
        let now = Instant::now();
        self.tokens.retain(|_, expiry| *expiry > now);
        let token: String = std::iter::repeat_with(fastrand::alphanumeric).take(64).collect();
        self.tokens.insert(token.clone(), now + Duration::from_secs(TOKEN_LIFETIME_SECS));
        Ok(TokenResponse {
            token_type: "Bearer".into(),
            expires_in: TOKEN_LIFETIME_SECS,
            ext_expires_in: Some(TOKEN_LIFETIME_SECS),
            access_token: token,
        })
    }

    /// Checks an `Authorization` header value as ARM does: an issued, unexpired bearer token.
    pub(super) fn check_bearer(&self, authorization: Option<&str>) -> Result<(), ArmError> {
        let Some(value) = authorization else {
            return Err(ArmError::new(
                StatusCode::UNAUTHORIZED,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            ));
        };
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("Bearer") && !token.trim().is_empty() => token.trim(),
            _ => {
                return Err(ArmError::new(
                    StatusCode::UNAUTHORIZED,
                    "AuthenticationFailedInvalidHeader",
                    "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                ));
            }
        };
        match self.tokens.get(token) {
            Some(expiry) if *expiry > Instant::now() => Ok(()),
            _ => Err(ArmError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
            )),
        }
    }

    /// `POST .../networkWatchers/{nw}/queryFlowLogStatus`.
    pub(super) fn query(&mut self, ctx: &Ctx, at: &WatcherRef, body: &[u8]) -> Result<Outcome, ArmError> {
        let watcher = self.watcher(at)?;
        let params: FlowLogStatusParameters = parse_body(body, &["/targetResourceId"])?;
        let i = self.target(&watcher, &params.target_resource_id, &watcher.id)?;
        let result = report(&self.nsgs[i]);
        Ok(self.accept(ctx, &watcher, None, result))
    }

    /// `POST .../networkWatchers/{nw}/configureFlowLog`. The change is applied when the request is accepted.
    pub(super) fn configure(&mut self, ctx: &Ctx, at: &WatcherRef, body: &[u8]) -> Result<Outcome, ArmError> {
        let watcher = self.watcher(at)?;
        let mut request: FlowLogInformation =
            parse_body(body, &["/targetResourceId", "/properties", "/properties/storageId", "/properties/enabled"])?;
        let flow_log_id = match ResourceId::parse(&request.target_resource_id) {
            Ok(t) => format!("{}/FlowLogs/{}", watcher.id, flow_log_name(&t.resource_group, t.name())),
            Err(_) => watcher.id.clone(),
        };
        let i = self.target(&watcher, &request.target_resource_id, &flow_log_id)?;
        let lock = self.nsgs[i].id.to_ascii_lowercase();
        if let Some(op) = self.operations.values().find(|op| op.remaining > 0 && op.lock.as_ref() == Some(&lock)) {
            return Err(ArmError::new(
                StatusCode::CONFLICT,
                "AnotherOperationInProgress",
                format!(
                    "Another operation on this or dependent resource is in progress. To retrieve status of the \
                     operation use uri: {}",
                    op.status_url
                ),
            ));
        }
        let props = &mut request.properties;
        if props.enabled && self.nsgs[i].flow_log.is_none() {
            return Err(ArmError::new(
                StatusCode::BAD_REQUEST,
                "NsgFlowLogCreationBlocked",
                NSG_FLOW_LOG_CREATION_BLOCKED,
            ));
        }
        if let Some(why) = props.retention_policy.as_ref().and_then(retention_problem) {
            // invented: Azure's code for this is not published
            return Err(ArmError::new(StatusCode::BAD_REQUEST, "InvalidRetentionPolicy", why));
        }
        if let Some(format) = props.format.as_mut() {
            if let Some(why) = format_problem(format) {
                // invented: Azure's code for this is not published
                return Err(ArmError::new(StatusCode::BAD_REQUEST, "InvalidFlowLogFormat", why));
            }
            format.format_type = format.format_type.as_ref().map(|_| "JSON".into());
        }
        match self.storage.iter().find(|s| same_id(&s.id, &props.storage_id)) {
            Some(s) if props.enabled && !s.location.eq_ignore_ascii_case(&self.nsgs[i].location) => {
                // invented: Azure's code for this is not published
                return Err(ArmError::new(
                    StatusCode::BAD_REQUEST,
                    "StorageAccountLocationMismatch",
                    format!(
                        "Storage account {} is in region {}, but the flow log target {} is in region {}. The storage \
                         account must be in the same region as the target.",
                        s.id, s.location, self.nsgs[i].id, self.nsgs[i].location
                    ),
                ));
            }
            Some(s) => props.storage_id = s.id.clone(),
            None if props.enabled => {
                return Err(ArmError::invalid_reference(&props.storage_id, &flow_log_id));
            }
            None => {}
        }
        let nsg = &mut self.nsgs[i];
        // Disabling where no flow log exists succeeds and creates nothing.
        if let Some(fl) = nsg.flow_log.as_mut() {
            request.target_resource_id = nsg.id.clone();
            if let Some(identity) = request.identity.as_mut() {
                fill_identity(identity);
            }
            let enabled = request.properties.enabled;
            tracing::info!(flow_log = %fl.name, target = %nsg.id, enabled, "flow log configured");
            fl.info = request;
        }
        let result = report(nsg);
        Ok(self.accept(ctx, &watcher, Some(lock), result))
    }

    /// One poll of either operation URL. Each poll of an operation in progress answers "InProgress" and moves it
    /// one step on; after `inProgressPolls` such polls it is done.
    pub(super) fn poll(&mut self, subscription: &str, location: &str, operation_id: &str) -> Result<Poll, ArmError> {
        let op = self.operations.get_mut(&operation_id.to_ascii_lowercase()).filter(|op| {
            op.subscription.eq_ignore_ascii_case(subscription) && op.location.eq_ignore_ascii_case(location)
        });
        let Some(op) = op else {
            // invented: Azure's code for this is not published
            return Err(ArmError::new(
                StatusCode::NOT_FOUND,
                "OperationNotFound",
                format!(
                    "Operation {operation_id} was not found in subscription '{subscription}', location '{location}'."
                ),
            ));
        };
        if op.remaining > 0 {
            op.remaining -= 1;
            return Ok(Poll::InProgress { location_url: op.location_url.clone(), retry_after: op.retry_after });
        }
        Ok(Poll::Done(op.result.clone()))
    }

    /// What queryFlowLogStatus answers for this NSG now.
    pub(super) fn flow_log_status(&self, target_resource_id: &str) -> Option<FlowLogInformation> {
        self.nsgs.iter().find(|n| same_id(&n.id, target_resource_id)).map(report)
    }

    pub(super) fn all_flow_log_statuses(&self) -> Vec<FlowLogInformation> {
        self.nsgs.iter().map(report).collect()
    }

    /// Drift: stores `info` as the NSG's flow log, creating one if needed, without the API's checks.
    pub(super) fn set_flow_log(&mut self, mut info: FlowLogInformation) -> Result<(), String> {
        let nsg = self
            .nsgs
            .iter_mut()
            .find(|n| same_id(&n.id, &info.target_resource_id))
            .ok_or_else(|| format!("no network security group {:?} in the inventory", info.target_resource_id))?;
        info.target_resource_id = nsg.id.clone();
        if let Some(identity) = info.identity.as_mut() {
            fill_identity(identity);
        }
        match nsg.flow_log.as_mut() {
            Some(fl) => fl.info = info,
            None => {
                nsg.flow_log = Some(StoredFlowLog { name: flow_log_name(&nsg.resource_group, &nsg.name), info });
            }
        }
        Ok(())
    }

    fn watcher(&self, at: &WatcherRef) -> Result<Watcher, ArmError> {
        let Some(sub) = self.inventory.subscriptions.iter().find(|s| s.id.eq_ignore_ascii_case(at.subscription)) else {
            return Err(ArmError::new(
                StatusCode::NOT_FOUND,
                "SubscriptionNotFound",
                format!("The subscription '{}' could not be found.", at.subscription),
            ));
        };
        let rg = at.resource_group;
        let rg_exists =
            sub.network_watchers.iter().chain(&sub.storage_accounts).any(|r| r.resource_group.eq_ignore_ascii_case(rg))
                || sub.network_security_groups.iter().any(|n| n.resource_group.eq_ignore_ascii_case(rg));
        if !rg_exists {
            return Err(ArmError::new(
                StatusCode::NOT_FOUND,
                "ResourceGroupNotFound",
                format!("Resource group '{rg}' could not be found."),
            ));
        }
        let id = format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Network/networkWatchers/{}",
            at.subscription, at.name
        );
        self.watchers.iter().find(|w| same_id(&w.id, &id)).cloned().ok_or_else(|| {
            ArmError::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                format!(
                    "The Resource 'Microsoft.Network/networkWatchers/{}' under resource group '{rg}' was not found. \
                     For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                    at.name
                ),
            )
        })
    }

    /// Finds the target NSG (its index) that `watcher` may handle.
    fn target(&self, watcher: &Watcher, target_id: &str, referrer: &str) -> Result<usize, ArmError> {
        let i = self
            .nsgs
            .iter()
            .position(|n| same_id(&n.id, target_id))
            .ok_or_else(|| ArmError::invalid_reference(target_id, referrer))?;
        let nsg = &self.nsgs[i];
        if !nsg.location.eq_ignore_ascii_case(&watcher.location) {
            // invented: Azure's code for this is not published
            return Err(ArmError::new(
                StatusCode::BAD_REQUEST,
                "NetworkWatcherLocationMismatch",
                format!(
                    "Network watcher {} is in region {}, but the target {} is in region {}. Use the network watcher \
                     of the target's region.",
                    watcher.id, watcher.location, nsg.id, nsg.location
                ),
            ));
        }
        Ok(i)
    }

    fn accept(&mut self, ctx: &Ctx, watcher: &Watcher, lock: Option<String>, result: FlowLogInformation) -> Outcome {
        if self.lro.mode == LroMode::Sync {
            return Outcome::Done(result);
        }
        let url = |kind: &str| {
            format!(
                "{}/subscriptions/{}/providers/Microsoft.Network/locations/{}/{kind}/{}?api-version={}",
                ctx.base, watcher.subscription, watcher.location, ctx.request_id, ctx.api_version
            )
        };
        let (status_url, location_url) = (url("operations"), url("operationResults"));
        let retry_after = self.lro.retry_after_seconds;
        self.operations.insert(
            ctx.request_id.to_ascii_lowercase(),
            Operation {
                subscription: watcher.subscription.clone(),
                location: watcher.location.clone(),
                lock,
                remaining: self.lro.in_progress_polls,
                retry_after,
                status_url: status_url.clone(),
                location_url: location_url.clone(),
                result: result.clone(),
            },
        );
        Outcome::Accepted { body: result, location_url, status_url, retry_after }
    }
}

/// Azure's message for `NsgFlowLogCreationBlocked` (quoted in Azure/bicep-registry-modules PR #6049).
const NSG_FLOW_LOG_CREATION_BLOCKED: &str = "On September 30, 2027, Network Security Group (NSG) flow logs will be \
retired. As part of this retirement, creation of new NSG flow logs is blocked starting June 30, 2025, but you will be \
able to continue using and modifying settings for existing NSG flow logs that are previously deployed/configured until \
Sept 30th 2027. We recommend migrating to virtual network flow logs, which overcome the limitations of NSG flow logs. \
For migration, please refer to https://learn.microsoft.com/en-us/azure/network-watcher/nsg-flow-logs-migrate.";

/// The status Azure reports, in the IDs' stored casing: a disabled flow log has no storage and default retention;
/// an NSG without flow log looks like a disabled one (an assumption, see the module documentation).
fn report(nsg: &Nsg) -> FlowLogInformation {
    match &nsg.flow_log {
        Some(fl) if fl.info.properties.enabled => fl.info.clone(),
        Some(fl) => {
            let mut info = fl.info.clone();
            info.properties.storage_id.clear();
            info.properties.retention_policy = Some(RetentionPolicyParameters::default());
            info
        }
        None => FlowLogInformation {
            target_resource_id: nsg.id.clone(),
            properties: FlowLogProperties {
                retention_policy: Some(RetentionPolicyParameters::default()),
                ..Default::default()
            },
            ..Default::default()
        },
    }
}

fn flow_log_name(resource_group: &str, nsg: &str) -> String {
    format!("Microsoft.Network{resource_group}{nsg}")
}

pub(super) fn retention_problem(retention: &RetentionPolicyParameters) -> Option<String> {
    (!(0..=365).contains(&retention.days))
        .then(|| format!("Retention policy days must be between 0 and 365; got {}.", retention.days))
}

pub(super) fn format_problem(format: &FlowLogFormatParameters) -> Option<String> {
    if let Some(t) = format.format_type.as_deref().filter(|t| !t.eq_ignore_ascii_case("JSON")) {
        return Some(format!("Flow log format type '{t}' is not supported; the only type is 'JSON'."));
    }
    (!matches!(format.version, 1 | 2))
        .then(|| format!("Flow log format version {} is not supported; use 1 or 2.", format.version))
}

/// Parses a JSON body after checking the properties the spec marks required (JSON pointers).
fn parse_body<T: DeserializeOwned>(body: &[u8], required: &[&str]) -> Result<T, ArmError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ArmError::invalid_request(format!("invalid JSON ({e})")))?;
    if let Some(missing) = required.iter().find(|p| value.pointer(p).is_none_or(Value::is_null)) {
        let path = missing.trim_start_matches('/').replace('/', ".");
        return Err(ArmError::invalid_request(format!("required property '{path}' is missing")));
    }
    serde_json::from_value(value).map_err(ArmError::invalid_request)
}

/// Fills `clientId`/`principalId` of each user-assigned identity, as Azure's responses do; derived from the
/// identity's ID so that every answer is the same.
fn fill_identity(identity: &mut Value) {
    if let Some(identities) = identity.get_mut("userAssignedIdentities").and_then(Value::as_object_mut) {
        for (id, value) in identities.iter_mut() {
            let id = id.to_ascii_lowercase();
            *value = json!({
                "clientId": derived_guid(&format!("clientId:{id}")),
                "principalId": derived_guid(&format!("principalId:{id}")),
            });
        }
    }
}

fn derived_guid(seed: &str) -> String {
    // FNV-1a from two offsets: stable and distinct enough for test GUIDs.
    let hash = |offset: u64| seed.bytes().fold(offset, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hash(0xcbf2_9ce4_8422_2325).to_be_bytes());
    bytes[8..].copy_from_slice(&hash(0x8422_2325_cbf2_9ce4).to_be_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::{
        DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_SUBSCRIPTION_ID as SUB, DEFAULT_TENANT_ID,
    };

    const WEU: WatcherRef =
        WatcherRef { subscription: SUB, resource_group: "NetworkWatcherRG", name: "NetworkWatcher_westeurope" };

    fn nsg_id(rg: &str, name: &str) -> String {
        format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/networkSecurityGroups/{name}")
    }

    fn storage_id(name: &str) -> String {
        format!("/subscriptions/{SUB}/resourceGroups/logging-rg/providers/Microsoft.Storage/storageAccounts/{name}")
    }

    fn state(mode: LroMode, in_progress_polls: u32) -> State {
        let mut inventory = Inventory::builtin();
        inventory.behaviour.lro.mode = mode;
        inventory.behaviour.lro.in_progress_polls = in_progress_polls;
        State::new(inventory)
    }

    fn ctx(request_id: &str) -> Ctx<'_> {
        Ctx { base: "http://sim", api_version: "2025-07-01", request_id }
    }

    /// configureFlowLog in sync mode.
    fn configure(state: &mut State, at: &WatcherRef, body: Value) -> Result<Value, ArmError> {
        match state.configure(&ctx("op"), at, body.to_string().as_bytes())? {
            Outcome::Done(info) => Ok(serde_json::to_value(info).unwrap()),
            other => panic!("sync mode answered {other:?}"),
        }
    }

    fn status(state: &State, rg: &str, nsg: &str) -> Value {
        serde_json::to_value(state.flow_log_status(&nsg_id(rg, nsg)).unwrap()).unwrap()
    }

    fn enable(nsg: &str, storage: &str) -> Value {
        json!({
            "targetResourceId": nsg_id("app-prod-rg", nsg),
            "properties": {"storageId": storage_id(storage), "enabled": true},
        })
    }

    fn disabled_shape(target: &str) -> Value {
        json!({
            "targetResourceId": target,
            "properties": {"storageId": "", "enabled": false, "retentionPolicy": {"days": 0, "enabled": false}},
        })
    }

    fn code<T: std::fmt::Debug>(result: Result<T, ArmError>) -> (u16, String) {
        let e = result.expect_err("must fail");
        (e.status.as_u16(), e.error.code)
    }

    #[test]
    fn reports_the_inventory_and_the_quirks() {
        let state = state(LroMode::Sync, 1);
        assert_eq!(
            status(&state, "app-prod-rg", "web-nsg"),
            json!({"targetResourceId": nsg_id("app-prod-rg", "web-nsg"), "properties": {
                "storageId": storage_id("flowlogsweu001"), "enabled": true,
                "retentionPolicy": {"days": 7, "enabled": true}, "format": {"type": "JSON", "version": 2}}})
        );
        assert_eq!(status(&state, "app-prod-rg", "db-nsg"), disabled_shape(&nsg_id("app-prod-rg", "db-nsg")));
        assert_eq!(status(&state, "app-prod-rg", "new-nsg"), disabled_shape(&nsg_id("app-prod-rg", "new-nsg")));
        assert_eq!(state.all_flow_log_statuses().len(), 5);
        assert!(state.flow_log_status(&nsg_id("app-prod-rg", "nope")).is_none());
    }

    #[test]
    fn creation_is_blocked_where_no_flow_log_exists() {
        let mut state = state(LroMode::Sync, 1);
        let e = configure(&mut state, &WEU, enable("new-nsg", "flowlogsweu001")).unwrap_err();
        assert_eq!((e.status.as_u16(), e.error.code.as_str()), (400, "NsgFlowLogCreationBlocked"));
        assert!(e.error.message.contains("creation of new NSG flow logs is blocked starting June 30, 2025"));
        assert_eq!(status(&state, "app-prod-rg", "new-nsg"), disabled_shape(&nsg_id("app-prod-rg", "new-nsg")));
    }

    #[test]
    fn disabling_where_none_exists_succeeds_and_creates_nothing() {
        let mut state = state(LroMode::Sync, 1);
        let target = nsg_id("app-prod-rg", "new-nsg");
        let body = json!({"targetResourceId": target, "properties": {"storageId": "", "enabled": false}});
        assert_eq!(configure(&mut state, &WEU, body).unwrap(), disabled_shape(&target));
        // Still nothing to enable.
        assert_eq!(
            code(configure(&mut state, &WEU, enable("new-nsg", "flowlogsweu001"))),
            (400, "NsgFlowLogCreationBlocked".into())
        );
    }

    #[test]
    fn existing_flow_logs_can_be_disabled_and_re_enabled() {
        let mut state = state(LroMode::Sync, 1);
        let target = nsg_id("app-prod-rg", "web-nsg");
        let mut disable = enable("web-nsg", "flowlogsweu001");
        disable["properties"]["enabled"] = json!(false);
        assert_eq!(configure(&mut state, &WEU, disable).unwrap(), disabled_shape(&target));
        assert_eq!(status(&state, "app-prod-rg", "web-nsg"), disabled_shape(&target));

        let mut body = enable("web-nsg", "flowlogsweu001");
        body["properties"]["retentionPolicy"] = json!({"days": 30, "enabled": true});
        let answer = configure(&mut state, &WEU, body.clone()).unwrap();
        assert_eq!(answer, body, "the whole configuration is replaced and echoed");
        assert_eq!(status(&state, "app-prod-rg", "web-nsg"), body);

        // The disabled one in the inventory can be enabled too.
        assert_eq!(
            configure(&mut state, &WEU, enable("db-nsg", "flowlogsweu001")).unwrap()["properties"]["enabled"],
            true
        );
    }

    #[test]
    fn matches_ids_case_insensitively_and_answers_in_stored_casing() {
        let mut state = state(LroMode::Sync, 1);
        let at =
            WatcherRef { subscription: SUB, resource_group: "networkwatcherrg", name: "NETWORKWATCHER_WESTEUROPE" };
        let body = json!({
            "targetResourceId": nsg_id("APP-PROD-RG", "WEB-NSG").to_uppercase(),
            "properties": {
                "storageId": storage_id("FlowLogsWEU001").to_lowercase(),
                "enabled": true,
                "format": {"type": "json", "version": 1},
            },
        });
        let answer = configure(&mut state, &at, body).unwrap();
        assert_eq!(answer["targetResourceId"], nsg_id("app-prod-rg", "web-nsg"));
        assert_eq!(answer["properties"]["storageId"], storage_id("flowlogsweu001"));
        assert_eq!(answer["properties"]["format"]["type"], "JSON");
    }

    #[test]
    fn validation_errors_carry_their_codes_and_change_nothing() {
        let mut state = state(LroMode::Sync, 1);
        let before = status(&state, "app-prod-rg", "web-nsg");
        let neu =
            WatcherRef { subscription: SUB, resource_group: "NetworkWatcherRG", name: "NetworkWatcher_northeurope" };
        let with = |f: &dyn Fn(&mut Value)| {
            let mut body = enable("web-nsg", "flowlogsweu001");
            f(&mut body);
            body
        };
        let cases: Vec<(&str, WatcherRef, Value, u16, &str)> = vec![
            (
                "unknown subscription",
                WatcherRef { subscription: "nope", ..WEU },
                enable("web-nsg", "flowlogsweu001"),
                404,
                "SubscriptionNotFound",
            ),
            (
                "unknown resource group",
                WatcherRef { resource_group: "nope", ..WEU },
                enable("web-nsg", "flowlogsweu001"),
                404,
                "ResourceGroupNotFound",
            ),
            (
                "unknown watcher",
                WatcherRef { name: "nope", ..WEU },
                enable("web-nsg", "flowlogsweu001"),
                404,
                "ResourceNotFound",
            ),
            ("not an object", WEU, json!("x"), 400, "InvalidRequestFormat"),
            (
                "enabled missing",
                WEU,
                with(&|b| {
                    b["properties"].as_object_mut().unwrap().remove("enabled");
                }),
                400,
                "InvalidRequestFormat",
            ),
            ("wrong type", WEU, with(&|b| b["properties"]["enabled"] = json!("yes")), 400, "InvalidRequestFormat"),
            ("unknown target", WEU, enable("nope-nsg", "flowlogsweu001"), 400, "InvalidResourceReference"),
            (
                "target not an NSG",
                WEU,
                with(&|b| b["targetResourceId"] = json!(storage_id("flowlogsweu001"))),
                400,
                "InvalidResourceReference",
            ),
            (
                "watcher in another region",
                neu,
                enable("web-nsg", "flowlogsweu001"),
                400,
                "NetworkWatcherLocationMismatch",
            ),
            (
                "retention too long",
                WEU,
                with(&|b| b["properties"]["retentionPolicy"] = json!({"days": 366, "enabled": true})),
                400,
                "InvalidRetentionPolicy",
            ),
            (
                "retention negative",
                WEU,
                with(&|b| b["properties"]["retentionPolicy"] = json!({"days": -1, "enabled": true})),
                400,
                "InvalidRetentionPolicy",
            ),
            (
                "format type",
                WEU,
                with(&|b| b["properties"]["format"] = json!({"type": "CSV", "version": 2})),
                400,
                "InvalidFlowLogFormat",
            ),
            (
                "format version",
                WEU,
                with(&|b| b["properties"]["format"] = json!({"type": "JSON", "version": 3})),
                400,
                "InvalidFlowLogFormat",
            ),
            ("unknown storage", WEU, enable("web-nsg", "nope"), 400, "InvalidResourceReference"),
            (
                "storage in another region",
                WEU,
                enable("web-nsg", "flowlogsneu001"),
                400,
                "StorageAccountLocationMismatch",
            ),
        ];
        for (what, at, body, status_code, error_code) in cases {
            assert_eq!(code(configure(&mut state, &at, body)), (status_code, error_code.to_string()), "{what}");
        }
        assert_eq!(status(&state, "app-prod-rg", "web-nsg"), before);

        let e = configure(&mut state, &WEU, enable("web-nsg", "nope")).unwrap_err();
        assert_eq!(e.error.details[0].code, "NotFound");
        assert!(e.error.message.starts_with(&format!("Resource {} referenced by resource ", storage_id("nope"))));
        assert!(e.error.message.contains("/FlowLogs/Microsoft.Networkapp-prod-rgweb-nsg"), "{}", e.error.message);
        let e = configure(&mut state, &WatcherRef { name: "nw9", ..WEU }, json!({})).unwrap_err();
        assert_eq!(
            e.error.message,
            "The Resource 'Microsoft.Network/networkWatchers/nw9' under resource group 'NetworkWatcherRG' was not found. \
             For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        );
    }

    #[test]
    fn query_checks_watcher_and_target() {
        let mut state = state(LroMode::Sync, 1);
        let query = |state: &mut State, body: Value| state.query(&ctx("q"), &WEU, body.to_string().as_bytes());
        assert_eq!(code(query(&mut state, json!({}))), (400, "InvalidRequestFormat".into()));
        assert_eq!(
            code(query(&mut state, json!({"targetResourceId": nsg_id("app-dr-rg", "web-dr-nsg")}))),
            (400, "NetworkWatcherLocationMismatch".into())
        );
        let Outcome::Done(info) =
            query(&mut state, json!({"targetResourceId": nsg_id("APP-PROD-RG", "web-nsg")})).unwrap()
        else {
            panic!("sync")
        };
        assert_eq!(info.target_resource_id, nsg_id("app-prod-rg", "web-nsg"));
    }

    #[test]
    fn async_writes_lock_the_target_until_polled_through() {
        let mut state = state(LroMode::Async, 1);
        let body = enable("web-nsg", "flowlogsweu001").to_string();
        let Outcome::Accepted { body: accepted, location_url, status_url, retry_after } =
            state.configure(&ctx("op-1"), &WEU, body.as_bytes()).unwrap()
        else {
            panic!("async mode must accept")
        };
        assert_eq!(retry_after, 1);
        assert_eq!(
            location_url,
            format!(
                "http://sim/subscriptions/{SUB}/providers/Microsoft.Network/locations/westeurope/operationResults/op-1?api-version=2025-07-01"
            )
        );
        assert_eq!(
            status_url,
            format!(
                "http://sim/subscriptions/{SUB}/providers/Microsoft.Network/locations/westeurope/operations/op-1?api-version=2025-07-01"
            )
        );
        assert_eq!(accepted.target_resource_id, nsg_id("app-prod-rg", "web-nsg"));
        // Applied at acceptance.
        assert_eq!(status(&state, "app-prod-rg", "web-nsg")["properties"]["retentionPolicy"], Value::Null);

        let e = state.configure(&ctx("op-2"), &WEU, body.as_bytes()).unwrap_err();
        assert_eq!((e.status.as_u16(), e.error.code.as_str()), (409, "AnotherOperationInProgress"));
        assert!(e.error.message.ends_with(&format!("use uri: {status_url}")), "{}", e.error.message);
        // Reads and other targets are not locked.
        let query = json!({"targetResourceId": nsg_id("app-prod-rg", "web-nsg")}).to_string();
        assert!(state.query(&ctx("op-3"), &WEU, query.as_bytes()).is_ok());
        assert!(state.configure(&ctx("op-4"), &WEU, enable("db-nsg", "flowlogsweu001").to_string().as_bytes()).is_ok());

        assert_eq!(code(state.poll(SUB, "northeurope", "op-1")), (404, "OperationNotFound".into()));
        assert!(matches!(state.poll(SUB, "WestEurope", "OP-1").unwrap(), Poll::InProgress { retry_after: 1, .. }));
        assert!(state.configure(&ctx("op-5"), &WEU, body.as_bytes()).is_ok(), "done after inProgressPolls polls");
        let Poll::Done(result) = state.poll(SUB, "westeurope", "op-1").unwrap() else { panic!("must be done") };
        assert_eq!(result, accepted);
    }

    #[test]
    fn zero_in_progress_polls_complete_at_once() {
        let mut state = state(LroMode::Async, 0);
        let body = enable("web-nsg", "flowlogsweu001").to_string();
        assert!(matches!(state.configure(&ctx("a"), &WEU, body.as_bytes()).unwrap(), Outcome::Accepted { .. }));
        assert!(matches!(state.poll(SUB, "westeurope", "a").unwrap(), Poll::Done(_)));
        assert!(state.configure(&ctx("b"), &WEU, body.as_bytes()).is_ok());
    }

    #[test]
    fn identities_get_stable_generated_ids() {
        let mut state = state(LroMode::Sync, 1);
        let uai = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1";
        let mut body = enable("web-nsg", "flowlogsweu001");
        body["identity"] = json!({"type": "UserAssigned", "userAssignedIdentities": {uai: {}}});
        let first =
            configure(&mut state, &WEU, body.clone()).unwrap()["identity"]["userAssignedIdentities"][uai].clone();
        let client_id = first["clientId"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(client_id).is_ok());
        assert_ne!(first["clientId"], first["principalId"]);
        body["identity"]["userAssignedIdentities"] = json!({uai.to_uppercase(): {}});
        let again = configure(&mut state, &WEU, body).unwrap()["identity"]["userAssignedIdentities"]
            [uai.to_uppercase()]
        .clone();
        assert_eq!(again, first);
    }

    #[test]
    fn drift_replaces_or_creates_a_flow_log() {
        let mut state = state(LroMode::Sync, 1);
        assert!(
            state
                .set_flow_log(FlowLogInformation { target_resource_id: nsg_id("x", "y"), ..Default::default() })
                .is_err()
        );
        let drifted: FlowLogInformation = serde_json::from_value(enable("NEW-NSG", "flowlogsweu001")).unwrap();
        state.set_flow_log(drifted).unwrap();
        assert_eq!(status(&state, "app-prod-rg", "new-nsg"), enable("new-nsg", "flowlogsweu001"));
        // It exists now, so the API may change it.
        assert!(configure(&mut state, &WEU, enable("new-nsg", "flowlogsweu001")).is_ok());
    }

    #[test]
    fn issues_and_checks_tokens() {
        let mut state = state(LroMode::Sync, 1);
        let form = |pairs: &[(&str, &str)]| {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>()
        };
        let good = [
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("scope", "https://management.azure.com/.default"),
        ];
        let token = state.issue_token(DEFAULT_TENANT_ID, &form(&good)).unwrap();
        assert_eq!((token.token_type.as_str(), token.expires_in), ("Bearer", 3599));
        state.check_bearer(Some(&format!("Bearer {}", token.access_token))).unwrap();

        let refused = |state: &mut State, tenant: &str, change: (&str, &str)| {
            let mut f = form(&good);
            f.insert(change.0.into(), change.1.into());
            let e = state.issue_token(tenant, &f).unwrap_err();
            (e.status.as_u16(), e.error, e.code)
        };
        assert_eq!(refused(&mut state, "other-tenant", ("x", "")), (400, "invalid_request", 90002));
        assert_eq!(refused(&mut state, DEFAULT_TENANT_ID, ("grant_type", "")), (400, "invalid_request", 900144));
        assert_eq!(
            refused(&mut state, DEFAULT_TENANT_ID, ("grant_type", "password")),
            (400, "unsupported_grant_type", 70003)
        );
        assert_eq!(
            refused(&mut state, DEFAULT_TENANT_ID, ("client_id", "someone")),
            (400, "unauthorized_client", 700016)
        );
        assert_eq!(
            refused(&mut state, DEFAULT_TENANT_ID, ("scope", "https://management.azure.com")),
            (400, "invalid_scope", 70011)
        );
        assert_eq!(refused(&mut state, DEFAULT_TENANT_ID, ("client_secret", "")), (401, "invalid_client", 7000218));
        assert_eq!(
            refused(&mut state, DEFAULT_TENANT_ID, ("client_secret", "wrong")),
            (401, "invalid_client", 7000215)
        );

        let bearer = |value: Option<&str>| state.check_bearer(value).unwrap_err().error.code;
        assert_eq!(bearer(None), "AuthenticationFailed");
        assert_eq!(bearer(Some("Basic abc")), "AuthenticationFailedInvalidHeader");
        assert_eq!(bearer(Some("Bearer not-issued")), "InvalidAuthenticationToken");
    }

    #[test]
    fn counts_and_rate_limits() {
        let mut state = state(LroMode::Sync, 1);
        state.count(CONFIGURE_FLOW_LOG);
        state.count(CONFIGURE_FLOW_LOG);
        assert_eq!(state.counters()[CONFIGURE_FLOW_LOG], 2);
        assert_eq!(state.counters()[TOKEN], 0);
        state.reset_counters();
        assert!(state.counters().values().all(|n| *n == 0));
        assert_eq!((state.rate_limit_remaining(true), state.rate_limit_remaining(true)), (1199, 1198));
        assert_eq!(state.rate_limit_remaining(false), 11999);
    }
}
