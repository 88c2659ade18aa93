//! The simulator's state and the Network Watcher rules, kept free of HTTP so unit tests can drive them: the one
//! flow-log store behind both APIs, the legacy actions (`configureFlowLog`, `queryFlowLogStatus`), long-running
//! operations, provider registration, counters, throttling and faults. The `flowLogs` resource is in
//! [`super::flowlogs`], the read-only resources in [`super::world`].

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::auth::Tokens;
use super::faults::{Faults, LroEnd, LroFault};
use super::inventory::{Inventory, LroMode, MICROSOFT_INSIGHTS, MICROSOFT_NETWORK};
use super::rate_limit::RateLimiter;
use super::world::{ResourcePath, TargetKind, WATCHER_TYPE, World};
use flowlog_wire::id::{ResourceId, same_id};
use flowlog_wire::model::{
    AsyncOperationResult, ErrorDetails, FlowLog, FlowLogFormatParameters, FlowLogInformation, FlowLogProperties,
    FlowLogPropertiesFormat, FlowLogStatusParameters, ManagedServiceIdentity, Provider, RetentionPolicyParameters,
    TrafficAnalyticsConfigurationProperties, TrafficAnalyticsProperties, UserAssignedIdentity,
};

/// Operation names used by the counters and the fault rules.
pub(super) const TOKEN: &str = "token";
pub(super) const IMDS: &str = "imds";
pub(super) const QUERY_FLOW_LOG_STATUS: &str = "queryFlowLogStatus";
pub(super) const CONFIGURE_FLOW_LOG: &str = "configureFlowLog";
pub(super) const OPERATION_STATUS: &str = "operationStatus";
pub(super) const OPERATION_RESULT: &str = "operationResult";
pub(super) const FLOW_LOGS_CREATE_OR_UPDATE: &str = "flowLogsCreateOrUpdate";
pub(super) const FLOW_LOGS_GET: &str = "flowLogsGet";
pub(super) const FLOW_LOGS_LIST: &str = "flowLogsList";
pub(super) const FLOW_LOGS_UPDATE_TAGS: &str = "flowLogsUpdateTags";
pub(super) const FLOW_LOGS_DELETE: &str = "flowLogsDelete";
pub(super) const NETWORK_WATCHERS_GET: &str = "networkWatchersGet";
pub(super) const NETWORK_WATCHERS_LIST: &str = "networkWatchersList";
pub(super) const NETWORK_WATCHERS_LIST_ALL: &str = "networkWatchersListAll";
pub(super) const NSGS_GET: &str = "networkSecurityGroupsGet";
pub(super) const NSGS_LIST: &str = "networkSecurityGroupsList";
pub(super) const NSGS_LIST_ALL: &str = "networkSecurityGroupsListAll";
pub(super) const VIRTUAL_NETWORKS_GET: &str = "virtualNetworksGet";
pub(super) const SUBNETS_GET: &str = "subnetsGet";
pub(super) const NETWORK_INTERFACES_GET: &str = "networkInterfacesGet";
pub(super) const WORKSPACES_GET: &str = "workspacesGet";
pub(super) const PROVIDERS_GET: &str = "providersGet";
pub(super) const PROVIDERS_REGISTER: &str = "providersRegister";
pub(super) const OPERATIONS: [&str; 23] = [
    TOKEN,
    IMDS,
    QUERY_FLOW_LOG_STATUS,
    CONFIGURE_FLOW_LOG,
    OPERATION_STATUS,
    OPERATION_RESULT,
    FLOW_LOGS_CREATE_OR_UPDATE,
    FLOW_LOGS_GET,
    FLOW_LOGS_LIST,
    FLOW_LOGS_UPDATE_TAGS,
    FLOW_LOGS_DELETE,
    NETWORK_WATCHERS_GET,
    NETWORK_WATCHERS_LIST,
    NETWORK_WATCHERS_LIST_ALL,
    NSGS_GET,
    NSGS_LIST,
    NSGS_LIST_ALL,
    VIRTUAL_NETWORKS_GET,
    SUBNETS_GET,
    NETWORK_INTERFACES_GET,
    WORKSPACES_GET,
    PROVIDERS_GET,
    PROVIDERS_REGISTER,
];
/// The operations that start long-running operations (targets of `lro` faults).
pub(super) const LRO_OPERATIONS: [&str; 4] =
    [QUERY_FLOW_LOG_STATUS, CONFIGURE_FLOW_LOG, FLOW_LOGS_CREATE_OR_UPDATE, FLOW_LOGS_DELETE];

/// Namespaces the simulator knows; others are 404 `InvalidResourceNamespace`.
const KNOWN_NAMESPACES: [&str; 5] = [
    MICROSOFT_NETWORK,
    MICROSOFT_INSIGHTS,
    "Microsoft.Storage",
    "Microsoft.OperationalInsights",
    "Microsoft.ManagedIdentity",
];

/// An ARM error: HTTP status and the `ErrorResponse` body.
#[derive(Debug)]
pub(super) struct ErrorReply {
    pub status: StatusCode,
    pub error: ErrorDetails,
    pub retry_after: Option<u64>,
}

impl ErrorReply {
    pub(super) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ErrorReply {
            status,
            error: ErrorDetails { code: code.into(), message: message.into(), target: None, details: vec![] },
            retry_after: None,
        }
    }

    pub(super) fn invalid_request(why: impl std::fmt::Display) -> Self {
        // invented: Azure's code for this is not published
        ErrorReply::new(StatusCode::BAD_REQUEST, "InvalidRequestFormat", format!("Cannot parse the request: {why}."))
    }

    pub(super) fn invalid_reference(referenced: &str, by: &str) -> Self {
        let mut e = ErrorReply::new(
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

/// An answer of the ARM API, before the common headers.
#[derive(Debug)]
pub(super) struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub location: Option<String>,
    pub async_operation: Option<String>,
    pub retry_after: Option<u32>,
}

impl Reply {
    pub(super) fn json(status: StatusCode, body: &impl serde::Serialize) -> Reply {
        let body = serde_json::to_value(body).expect("wire types always serialize to JSON");
        Reply { status, body: Some(body), location: None, async_operation: None, retry_after: None }
    }

    pub(super) fn empty(status: StatusCode) -> Reply {
        Reply { status, body: None, location: None, async_operation: None, retry_after: None }
    }
}

/// What the request handlers know about the request being served.
pub(super) struct RequestContext<'a> {
    /// `http://host:port`, as the client addressed the simulator.
    pub base: &'a str,
    pub api_version: &'a str,
    /// `x-ms-request-id`; a long-running operation takes it as its ID.
    pub request_id: &'a str,
    /// The counter name of the operation, for `lro` faults.
    pub operation: &'static str,
}

/// `/subscriptions/{subscription}/resourceGroups/{resource_group}/.../networkWatchers/{name}` as sent.
pub(super) struct WatcherRef<'a> {
    pub subscription: &'a str,
    pub resource_group: &'a str,
    pub name: &'a str,
}

impl WatcherRef<'_> {
    pub(super) fn path(&self) -> ResourcePath<'_> {
        ResourcePath {
            subscription: self.subscription,
            resource_group: self.resource_group,
            resource_type: WATCHER_TYPE.into(),
            name: self.name,
        }
    }
}

/// A flow-log resource: held by a watcher, targeting an NSG, virtual network, subnet or NIC. Both APIs read and
/// write these.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct StoredFlowLog {
    pub watcher: usize,
    pub name: String,
    pub location: String,
    pub tags: Option<BTreeMap<String, String>>,
    pub etag: String,
    /// The target's ID in the inventory's casing.
    pub target: String,
    pub settings: FlowLogSettings,
}

impl StoredFlowLog {
    /// A flow log as written now (a new etag).
    pub(super) fn new(
        watcher: usize,
        name: String,
        location: String,
        target: String,
        tags: Option<BTreeMap<String, String>>,
        settings: FlowLogSettings,
    ) -> StoredFlowLog {
        StoredFlowLog { watcher, name, location, tags, etag: new_etag(), target, settings }
    }

    pub(super) fn is(&self, watcher: usize, name: &str) -> bool {
        self.watcher == watcher && self.name.eq_ignore_ascii_case(name)
    }
}

/// What the `Location` URL answers once an operation succeeded.
#[derive(Clone, Debug)]
pub(super) enum OpResult {
    Info(Box<FlowLogInformation>),
    Resource(Box<FlowLog>),
    NoContent,
}

struct OperationFailure {
    end: LroEnd,
    error: ErrorDetails,
    http: StatusCode,
}

struct Operation {
    subscription: String,
    location: String,
    /// Lower-cased ID of the target a write holds.
    lock: Option<String>,
    /// The flow log whose `provisioningState` it drives: (watcher, lower-cased name).
    flow_log: Option<(usize, String)>,
    deleting: bool,
    /// Polls that will still answer "InProgress".
    remaining: u32,
    retry_after: u32,
    status_url: String,
    location_url: String,
    result: OpResult,
    failure: Option<OperationFailure>,
    /// The flow log as it was before, restored if the operation fails.
    undo: Option<(usize, String, Option<StoredFlowLog>)>,
}

/// A long-running operation about to start.
pub(super) struct NewOperation {
    pub subscription: String,
    pub location: String,
    pub lock: Option<String>,
    pub flow_log: Option<(usize, String)>,
    pub deleting: bool,
    pub result: OpResult,
    pub undo: Option<(usize, String, Option<StoredFlowLog>)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Registration {
    NotRegistered,
    /// Reads that will still answer "Registering".
    Registering(u32),
    Registered,
}

pub(super) struct State {
    pub inventory: Inventory,
    pub world: World,
    pub flow_logs: Vec<StoredFlowLog>,
    operations: HashMap<String, Operation>,
    /// (lower-cased subscription, lower-cased namespace) → canonical namespace and state.
    providers: BTreeMap<(String, String), (String, Registration)>,
    pub tokens: Tokens,
    counters: BTreeMap<String, u64>,
    pub throttle: RateLimiter,
    pub faults: Faults,
}

impl State {
    /// The inventory must be valid ([`Inventory::validate`]); invalid references are skipped.
    pub(super) fn new(inventory: Inventory) -> State {
        let world = World::new(&inventory);
        let mut providers = BTreeMap::new();
        for sub in &inventory.subscriptions {
            for ns in KNOWN_NAMESPACES.iter().copied().chain(sub.registered_providers.iter().map(String::as_str)) {
                let registered = sub.registered_providers.iter().any(|p| p.eq_ignore_ascii_case(ns));
                let state = if registered { Registration::Registered } else { Registration::NotRegistered };
                providers
                    .entry((sub.id.to_ascii_lowercase(), ns.to_ascii_lowercase()))
                    .or_insert((ns.to_string(), state));
            }
        }
        let mut state = State {
            throttle: RateLimiter::new(inventory.behaviour.throttling.clone()),
            faults: Faults::new(inventory.behaviour.faults.clone()),
            world,
            flow_logs: Vec::new(),
            operations: HashMap::new(),
            providers,
            tokens: Tokens::default(),
            counters: OPERATIONS.iter().map(|op| (op.to_string(), 0)).collect(),
            inventory,
        };
        state.load_flow_logs();
        state
    }

    /// The flow logs of the inventory: NSGs' `flowLog`s and watchers' `flowLogs`.
    fn load_flow_logs(&mut self) {
        let inventory = self.inventory.clone();
        let add = |state: &mut State,
                   watcher: usize,
                   name: String,
                   target: String,
                   fl: &super::inventory::InventoryFlowLog| {
            let storage_id = fl
                .storage_account
                .as_ref()
                .and_then(|name| state.world.storage.iter().find(|s| s.name.eq_ignore_ascii_case(name)))
                .map(|s| s.id.clone())
                .unwrap_or_default();
            let traffic_analytics = fl.traffic_analytics.as_ref().map(|ta| {
                let ws = ta
                    .workspace
                    .as_ref()
                    .and_then(|name| state.world.workspaces.iter().find(|w| w.name.eq_ignore_ascii_case(name)));
                TrafficAnalyticsConfigurationProperties {
                    enabled: Some(ta.enabled),
                    workspace_id: ws.map(|w| w.customer_id.clone()),
                    workspace_region: ws.map(|w| w.location.clone()),
                    workspace_resource_id: ws.map(|w| w.id.clone()),
                    traffic_analytics_interval: Some(ta.interval_minutes),
                }
            });
            let identity = (!fl.user_assigned_identities.is_empty()).then(|| {
                let mut identity = ManagedServiceIdentity {
                    identity_type: Some("UserAssigned".into()),
                    user_assigned_identities: Some(
                        fl.user_assigned_identities
                            .iter()
                            .map(|id| (id.clone(), UserAssignedIdentity::default()))
                            .collect(),
                    ),
                    ..Default::default()
                };
                state.fill_identity(&mut identity);
                identity
            });
            let properties = FlowLogProperties {
                storage_id,
                enabled: fl.enabled,
                enabled_filtering_criteria: fl.enabled_filtering_criteria.clone(),
                record_types: fl.record_types.clone(),
                retention_policy: fl.retention_policy,
                format: fl.format.clone(),
            };
            let location = state.world.watchers[watcher].location.clone();
            let tags = (!fl.tags.is_empty()).then(|| fl.tags.clone());
            let settings = FlowLogSettings { properties, traffic_analytics, identity };
            state.flow_logs.push(StoredFlowLog::new(watcher, name, location, target, tags, settings));
        };
        for sub in &inventory.subscriptions {
            for n in &sub.network_security_groups {
                let Some(fl) = &n.flow_log else { continue };
                let watcher = self.world.watchers.iter().position(|w| {
                    w.subscription.eq_ignore_ascii_case(&sub.id) && w.location.eq_ignore_ascii_case(&n.location)
                });
                let target = self.world.target(&super::inventory::arm_id(
                    &sub.id,
                    &n.resource_group,
                    super::world::NSG_TYPE,
                    &n.name,
                ));
                if let (Some(watcher), Some(target)) = (watcher, target) {
                    let name = fl.name.clone().unwrap_or_else(|| flow_log_name(&n.resource_group, &n.name));
                    let target = target.id.to_string();
                    add(self, watcher, name, target, fl);
                }
            }
            for w in &sub.network_watchers {
                let id = super::inventory::arm_id(&sub.id, &w.resource_group, WATCHER_TYPE, &w.name);
                let Some(watcher) = self.world.watchers.iter().position(|x| same_id(&x.id, &id)) else { continue };
                for fl in &w.flow_logs {
                    let target =
                        fl.target_resource_id.as_deref().and_then(|t| self.world.target(t)).map(|t| t.id.to_string());
                    if let (Some(name), Some(target)) = (fl.name.clone(), target) {
                        add(self, watcher, name, target, fl);
                    }
                }
            }
        }
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

    // ---- the legacy actions ------------------------------------------------------------------------------------

    /// `POST .../networkWatchers/{nw}/queryFlowLogStatus`.
    pub(super) fn query(&mut self, ctx: &RequestContext, at: &WatcherRef, body: &[u8]) -> Result<Reply, ErrorReply> {
        let w = self.world.watcher_index(&at.path())?;
        let params: FlowLogStatusParameters = parse_body(body, &["/targetResourceId"])?;
        let watcher_id = self.world.watchers[w].id.clone();
        let nsg = self.legacy_target(w, &params.target_resource_id, &watcher_id)?;
        let result = self.legacy_status(nsg);
        let fault = self.lro_fault(ctx)?;
        Ok(self.answer_action(ctx, w, None, result, None, fault))
    }

    /// `POST .../networkWatchers/{nw}/configureFlowLog`: replaces the NSG's flow-log configuration. The change is
    /// applied when the request is accepted.
    pub(super) fn configure(
        &mut self,
        ctx: &RequestContext,
        at: &WatcherRef,
        body: &[u8],
    ) -> Result<Reply, ErrorReply> {
        let w = self.world.watcher_index(&at.path())?;
        let request: FlowLogInformation =
            parse_body(body, &["/targetResourceId", "/properties", "/properties/storageId", "/properties/enabled"])?;
        let watcher_id = self.world.watchers[w].id.clone();
        let flow_log_id = match ResourceId::parse(&request.target_resource_id) {
            Ok(t) => format!("{watcher_id}/FlowLogs/{}", flow_log_name(&t.resource_group, t.name())),
            Err(_) => watcher_id.clone(),
        };
        let nsg = self.legacy_target(w, &request.target_resource_id, &flow_log_id)?;
        let target = self.world.nsgs[nsg].id.clone();
        let lock = target.to_ascii_lowercase();
        self.check_lock(&lock)?;
        let existing = self.flow_log_of_target(&target);
        self.check_nsg_flow_log_creation(request.properties.enabled && existing.is_none())?;
        let analytics = request
            .flow_analytics_configuration
            .map(serde_json::from_value::<TrafficAnalyticsProperties>)
            .transpose()
            .map_err(ErrorReply::invalid_request)?;
        let identity = request
            .identity
            .map(serde_json::from_value::<ManagedServiceIdentity>)
            .transpose()
            .map_err(ErrorReply::invalid_request)?;
        let mut settings = FlowLogSettings::new(request.properties, analytics, identity);
        self.check_settings(&mut settings, w, &target, &flow_log_id)?;
        let name = flow_log_name(&self.world.nsgs[nsg].resource_group, &self.world.nsgs[nsg].name);
        if existing.is_none() && self.flow_logs.iter().any(|f| f.is(w, &name)) {
            // invented: Azure's code for this is not published
            return Err(ErrorReply::new(
                StatusCode::BAD_REQUEST,
                "FlowLogTargetChangeNotAllowed",
                format!("Flow log {flow_log_id} targets another resource; its target cannot be changed to {target}."),
            ));
        }
        let fault = self.lro_fault(ctx)?;
        // Disabling where no flow log exists succeeds and creates nothing.
        let undo = match existing {
            Some(i) => {
                let before = self.flow_logs[i].clone();
                settings.apply(&mut self.flow_logs[i]);
                Some((before.watcher, before.name.to_ascii_lowercase(), Some(before)))
            }
            None if settings.properties.enabled => {
                let location = self.world.watchers[w].location.clone();
                let created = StoredFlowLog::new(w, name.clone(), location, target.clone(), None, settings.clone());
                self.flow_logs.push(created);
                Some((w, name.to_ascii_lowercase(), None))
            }
            None => None,
        };
        tracing::info!(target = %target, enabled = settings.properties.enabled, "flow log configured");
        let result = self.legacy_status(nsg);
        Ok(self.answer_action(ctx, w, Some(lock), result, undo, fault))
    }

    /// 200 at once (`sync`) or 202 with the operation URLs (`async`) for a legacy action; `undo` is the change it
    /// made (the flow log before it).
    fn answer_action(
        &mut self,
        ctx: &RequestContext,
        w: usize,
        lock: Option<String>,
        result: FlowLogInformation,
        undo: Option<(usize, String, Option<StoredFlowLog>)>,
        fault: Option<LroFault>,
    ) -> Reply {
        let mut reply = Reply::json(StatusCode::OK, &result);
        if self.inventory.behaviour.lro.mode == LroMode::Sync {
            return reply;
        }
        let watcher = &self.world.watchers[w];
        let op = NewOperation {
            subscription: watcher.subscription.clone(),
            location: watcher.location.clone(),
            lock,
            flow_log: undo.as_ref().map(|(w, name, _)| (*w, name.clone())),
            deleting: false,
            result: OpResult::Info(Box::new(result)),
            undo,
        };
        let (status_url, location_url, retry_after) = self.start(ctx, op, fault);
        reply.status = StatusCode::ACCEPTED;
        reply.location = Some(location_url);
        reply.async_operation = Some(status_url);
        reply.retry_after = Some(retry_after);
        reply
    }

    /// The NSG (its index) a legacy action targets, which `watcher` must serve.
    fn legacy_target(&self, watcher: usize, target_id: &str, referrer: &str) -> Result<usize, ErrorReply> {
        let i = match self.world.target(target_id) {
            Some(t) => match t.kind {
                TargetKind::Nsg(i) => i,
                _ => return Err(ErrorReply::invalid_reference(target_id, referrer)),
            },
            None => return Err(ErrorReply::invalid_reference(target_id, referrer)),
        };
        let (nsg, w) = (&self.world.nsgs[i], &self.world.watchers[watcher]);
        check_region(w, &nsg.id, &nsg.location)?;
        Ok(i)
    }

    /// What queryFlowLogStatus answers for an NSG: its flow log, or the disabled shape when it has none.
    pub(super) fn legacy_status(&self, nsg: usize) -> FlowLogInformation {
        let id = &self.world.nsgs[nsg].id;
        match self.flow_log_of_target(id) {
            Some(i) => self.legacy_view(&self.flow_logs[i]),
            // Assumption: Azure reports an NSG without flow log like a disabled one.
            None => FlowLogInformation {
                target_resource_id: self.reference_id(id),
                properties: FlowLogProperties {
                    retention_policy: Some(RetentionPolicyParameters::default()),
                    ..Default::default()
                },
                ..Default::default()
            },
        }
    }

    /// A flow log as the legacy actions answer it.
    pub(super) fn legacy_view(&self, fl: &StoredFlowLog) -> FlowLogInformation {
        let mut properties = fl.settings.properties.clone();
        if !properties.enabled && self.inventory.behaviour.quirks.disabled_flow_log_defaults {
            properties.storage_id.clear();
            properties.retention_policy = Some(RetentionPolicyParameters::default());
        }
        FlowLogInformation {
            target_resource_id: self.reference_id(&fl.target),
            properties,
            flow_analytics_configuration: fl
                .settings
                .traffic_analytics
                .as_ref()
                .map(|ta| json!({"networkWatcherFlowAnalyticsConfiguration": traffic_analytics_view(ta)})),
            identity: fl.settings.identity.as_ref().map(|i| serde_json::to_value(i).expect("plain struct")),
        }
    }

    // ---- the flow-log store ------------------------------------------------------------------------------------

    pub(super) fn flow_log_of_target(&self, target: &str) -> Option<usize> {
        self.flow_logs.iter().position(|f| same_id(&f.target, target))
    }

    /// `{watcher}/FlowLogs/{name}`, with the resource-group quirk.
    pub(super) fn flow_log_id(&self, fl: &StoredFlowLog) -> String {
        self.reference_id(&format!("{}/FlowLogs/{}", self.world.watchers[fl.watcher].id, fl.name))
    }

    /// IDs of the flow logs targeting `target`, as NSGs and virtual networks list them.
    pub(super) fn flow_log_refs(&self, target: &str) -> Vec<String> {
        self.flow_logs.iter().filter(|f| same_id(&f.target, target)).map(|f| self.flow_log_id(f)).collect()
    }

    /// An ID as answers carry it: with the resource group upper-cased when that quirk is on.
    pub(super) fn reference_id(&self, id: &str) -> String {
        if !self.inventory.behaviour.quirks.upper_case_resource_groups {
            return id.to_string();
        }
        let mut parts: Vec<String> = id.split('/').map(str::to_owned).collect();
        if let Some(i) = parts.iter().position(|p| p.eq_ignore_ascii_case("resourceGroups"))
            && let Some(rg) = parts.get_mut(i + 1)
        {
            *rg = rg.to_ascii_uppercase();
        }
        parts.join("/")
    }

    /// A flow log as the `flowLogs` resource answers it.
    pub(super) fn resource_view(&self, fl: &StoredFlowLog, provisioning_state: &str) -> FlowLog {
        let legacy = self.legacy_view(fl);
        let settings = &fl.settings;
        let guid = resource_guid(&fl.target);
        FlowLog {
            id: Some(self.flow_log_id(fl)),
            name: Some(fl.name.clone()),
            resource_type: Some(format!("{WATCHER_TYPE}/FlowLogs")),
            location: Some(fl.location.clone()),
            tags: fl.tags.clone(),
            etag: Some(fl.etag.clone()),
            identity: settings.identity.clone(),
            properties: FlowLogPropertiesFormat {
                target_resource_id: legacy.target_resource_id,
                target_resource_guid: Some(guid),
                storage_id: legacy.properties.storage_id,
                enabled: Some(settings.properties.enabled),
                enabled_filtering_criteria: settings.properties.enabled_filtering_criteria.clone(),
                record_types: settings.properties.record_types.clone(),
                retention_policy: Some(legacy.properties.retention_policy.unwrap_or_default()),
                format: settings.properties.format.clone(),
                flow_analytics_configuration: Some(TrafficAnalyticsProperties {
                    network_watcher_flow_analytics_configuration: settings
                        .traffic_analytics
                        .as_ref()
                        .map(traffic_analytics_view),
                }),
                provisioning_state: Some(provisioning_state.into()),
            },
        }
    }

    /// `Updating` or `Deleting` while an operation on the flow log is in flight, else `Succeeded`.
    pub(super) fn provisioning_state(&self, fl: &StoredFlowLog) -> &'static str {
        match self.in_flight(fl) {
            Some((_, op)) if op.deleting => "Deleting",
            Some(_) => "Updating",
            None => "Succeeded",
        }
    }

    fn in_flight(&self, fl: &StoredFlowLog) -> Option<(&String, &Operation)> {
        self.operations
            .iter()
            .find(|(_, op)| op.remaining > 0 && op.flow_log.as_ref().is_some_and(|(w, name)| fl.is(*w, name)))
    }

    /// Moves the operation in flight on this flow log one step on, as a poll would.
    pub(super) fn advance_flow_log_operation(&mut self, fl: usize) {
        if let Some((id, _)) = self.in_flight(&self.flow_logs[fl]) {
            let id = id.clone();
            self.step(&id);
        }
    }

    /// While NSG flow-log creation is blocked (the retirement quirk), a write may change an NSG's flow log but not
    /// create one: `creates` says whether this write would.
    pub(super) fn check_nsg_flow_log_creation(&self, creates: bool) -> Result<(), ErrorReply> {
        if creates && self.inventory.behaviour.quirks.nsg_flow_log_creation_blocked {
            return Err(ErrorReply::new(
                StatusCode::BAD_REQUEST,
                "NsgFlowLogCreationBlocked",
                NSG_FLOW_LOG_CREATION_BLOCKED,
            ));
        }
        Ok(())
    }

    /// Validates and completes the settings of a write to a flow log of watcher `w`, the same for both APIs:
    /// retention, format, record types and storage account, then traffic analytics and identities, then the
    /// Microsoft.Insights registration that enabling needs.
    pub(super) fn check_settings(
        &self,
        s: &mut FlowLogSettings,
        w: usize,
        target: &str,
        referrer: &str,
    ) -> Result<(), ErrorReply> {
        let watcher = &self.world.watchers[w];
        self.check_properties(&mut s.properties, target, &watcher.location, referrer)?;
        s.traffic_analytics = self.check_traffic_analytics(s.traffic_analytics.take(), &watcher.location, referrer)?;
        if let Some(identity) = s.identity.as_mut() {
            self.fill_identity(identity);
        }
        if s.properties.enabled {
            self.check_insights_registered(&watcher.subscription)?;
        }
        Ok(())
    }

    /// Validates and normalises the properties both APIs share.
    fn check_properties(
        &self,
        s: &mut FlowLogProperties,
        target: &str,
        target_location: &str,
        referrer: &str,
    ) -> Result<(), ErrorReply> {
        if let Some(why) = s.retention_policy.as_ref().and_then(retention_problem) {
            // invented: Azure's code for this is not published
            return Err(ErrorReply::new(StatusCode::BAD_REQUEST, "InvalidRetentionPolicy", why));
        }
        if let Some(format) = s.format.as_mut() {
            if let Some(why) = format_problem(format) {
                // invented: Azure's code for this is not published
                return Err(ErrorReply::new(StatusCode::BAD_REQUEST, "InvalidFlowLogFormat", why));
            }
            format.format_type = format.format_type.as_ref().map(|_| "JSON".into());
        }
        if let Some(why) = s.record_types.as_deref().and_then(record_types_problem) {
            // invented: Azure's code for this is not published
            return Err(ErrorReply::new(StatusCode::BAD_REQUEST, "InvalidRecordTypes", why));
        }
        match self.world.storage.iter().find(|st| same_id(&st.id, &s.storage_id)) {
            Some(st) if s.enabled && !st.location.eq_ignore_ascii_case(target_location) => {
                // invented: Azure's code for this is not published
                Err(ErrorReply::new(
                    StatusCode::BAD_REQUEST,
                    "StorageAccountLocationMismatch",
                    format!(
                        "Storage account {} is in region {}, but the flow log target {target} is in region \
                         {target_location}. The storage account must be in the same region as the target.",
                        st.id, st.location
                    ),
                ))
            }
            Some(st) => {
                s.storage_id = st.id.clone();
                Ok(())
            }
            None if s.enabled => Err(ErrorReply::invalid_reference(&s.storage_id, referrer)),
            None => Ok(()),
        }
    }

    /// Validates traffic analytics and fills in the workspace's GUID, region and ID.
    fn check_traffic_analytics(
        &self,
        analytics: Option<TrafficAnalyticsConfigurationProperties>,
        location: &str,
        referrer: &str,
    ) -> Result<Option<TrafficAnalyticsConfigurationProperties>, ErrorReply> {
        let Some(mut ta) = analytics else {
            return Ok(None);
        };
        if let Some(interval) = ta.traffic_analytics_interval.filter(|i| !matches!(i, 10 | 60)) {
            // invented: Azure's code for this is not published
            return Err(ErrorReply::new(
                StatusCode::BAD_REQUEST,
                "InvalidTrafficAnalyticsInterval",
                format!("Traffic analytics interval {interval} is not supported; use 10 or 60 minutes."),
            ));
        }
        ta.traffic_analytics_interval.get_or_insert(60);
        if !ta.enabled.unwrap_or(false) {
            ta.enabled = Some(false);
            return Ok(Some(ta));
        }
        let Some(ws_id) = ta.workspace_resource_id.clone() else {
            return Err(ErrorReply::invalid_request(
                "required property 'flowAnalyticsConfiguration.networkWatcherFlowAnalyticsConfiguration.\
                 workspaceResourceId' is missing",
            ));
        };
        let ws = self
            .world
            .workspaces
            .iter()
            .find(|w| same_id(&w.id, &ws_id))
            .ok_or_else(|| ErrorReply::invalid_reference(&ws_id, referrer))?;
        let region_error = |region: &str| {
            ErrorReply::new(
                StatusCode::BAD_REQUEST,
                "InvalidTAWorkspaceRegion",
                format!(
                    "The specified region {region} for workspace is invalid. Workspace {} located in {} region.",
                    ws.id, ws.location
                ),
            )
        };
        if let Some(region) = ta.workspace_region.as_deref().filter(|r| !r.eq_ignore_ascii_case(&ws.location)) {
            return Err(region_error(region));
        }
        if !ws.location.eq_ignore_ascii_case(location) {
            return Err(region_error(location));
        }
        if let Some(given) = ta.workspace_id.as_deref().filter(|g| !g.eq_ignore_ascii_case(&ws.customer_id)) {
            // invented: Azure's code for this is not published
            return Err(ErrorReply::new(
                StatusCode::BAD_REQUEST,
                "TrafficAnalyticsWorkspaceIdMismatch",
                format!("Workspace ID {given} does not match workspace {}, whose ID is {}.", ws.id, ws.customer_id),
            ));
        }
        ta.workspace_id = Some(ws.customer_id.clone());
        ta.workspace_region = Some(ws.location.clone());
        ta.workspace_resource_id = Some(ws.id.clone());
        Ok(Some(ta))
    }

    /// Fills `clientId`/`principalId` of each user-assigned identity, as Azure's responses do: the inventory's
    /// managed identity with that resource ID, or GUIDs derived from the ID so that every answer is the same.
    pub(super) fn fill_identity(&self, identity: &mut ManagedServiceIdentity) {
        for (id, value) in identity.user_assigned_identities.iter_mut().flatten() {
            let known = self
                .inventory
                .managed_identities
                .iter()
                .find(|m| m.resource_id.as_deref().is_some_and(|r| same_id(r, id)));
            let lower = id.to_ascii_lowercase();
            *value = UserAssignedIdentity {
                client_id: Some(
                    known.map_or_else(|| derived_guid(&format!("clientId:{lower}")), |m| m.client_id.clone()),
                ),
                principal_id: Some(
                    known.map_or_else(|| derived_guid(&format!("principalId:{lower}")), |m| m.principal_id.clone()),
                ),
            };
        }
    }

    /// Enabling a flow log needs Microsoft.Insights in the watcher's subscription.
    pub(super) fn check_insights_registered(&self, subscription: &str) -> Result<(), ErrorReply> {
        let key = (subscription.to_ascii_lowercase(), MICROSOFT_INSIGHTS.to_ascii_lowercase());
        match self.providers.get(&key) {
            Some((_, Registration::Registered)) => Ok(()),
            // Assumption: ARM's code and message for an unregistered namespace; Azure's docs only say flow logs fail.
            _ => Err(ErrorReply::new(
                StatusCode::CONFLICT,
                "MissingSubscriptionRegistration",
                format!(
                    "The subscription is not registered to use namespace '{MICROSOFT_INSIGHTS}'. See \
                     https://aka.ms/rps-not-found for how to register subscriptions."
                ),
            )),
        }
    }

    /// 409 while another write to the same target is in flight (when that quirk is on).
    pub(super) fn check_lock(&self, lock: &str) -> Result<(), ErrorReply> {
        if !self.inventory.behaviour.quirks.another_operation_in_progress {
            return Ok(());
        }
        match self.operations.values().find(|op| op.remaining > 0 && op.lock.as_deref() == Some(lock)) {
            Some(op) => Err(ErrorReply::new(
                StatusCode::CONFLICT,
                "AnotherOperationInProgress",
                format!(
                    "Another operation on this or dependent resource is in progress. To retrieve status of the \
                     operation use uri: {}",
                    op.status_url
                ),
            )),
            None => Ok(()),
        }
    }

    // ---- long-running operations -------------------------------------------------------------------------------

    /// The `lro` fault for the operation starting now; in `sync` mode one that fails the operation fails the request.
    pub(super) fn lro_fault(&mut self, ctx: &RequestContext) -> Result<Option<LroFault>, ErrorReply> {
        let fault = self.faults.lro(ctx.operation);
        if self.inventory.behaviour.lro.mode == LroMode::Sync
            && let Some(f) = fault.as_ref().and_then(failure)
        {
            let mut e = ErrorReply::new(f.http, &f.error.code, f.error.message);
            e.error.details = f.error.details;
            return Err(e);
        }
        Ok(fault)
    }

    /// Registers an operation; answers its status URL, result URL and Retry-After.
    pub(super) fn start(
        &mut self,
        ctx: &RequestContext,
        op: NewOperation,
        fault: Option<LroFault>,
    ) -> (String, String, u32) {
        let url = |kind: &str| {
            format!(
                "{}/subscriptions/{}/providers/Microsoft.Network/locations/{}/{kind}/{}?api-version={}",
                ctx.base, op.subscription, op.location, ctx.request_id, ctx.api_version
            )
        };
        let (status_url, location_url) = (url("operations"), url("operationResults"));
        let lro = &self.inventory.behaviour.lro;
        let retry_after = lro.retry_after_seconds;
        let remaining = fault.as_ref().and_then(|f| f.in_progress_polls).unwrap_or(lro.in_progress_polls);
        let id = ctx.request_id.to_ascii_lowercase();
        self.operations.insert(
            id.clone(),
            Operation {
                subscription: op.subscription,
                location: op.location,
                lock: op.lock,
                flow_log: op.flow_log,
                deleting: op.deleting,
                remaining,
                retry_after,
                status_url: status_url.clone(),
                location_url: location_url.clone(),
                result: op.result,
                failure: fault.as_ref().and_then(failure),
                undo: op.undo,
            },
        );
        if remaining == 0 {
            self.finish(&id);
        }
        (status_url, location_url, retry_after)
    }

    /// One poll of either operation URL. Each poll of an operation in progress answers "InProgress" and moves it
    /// one step on; after that many polls it is done.
    pub(super) fn poll(
        &mut self,
        subscription: &str,
        location: &str,
        operation_id: &str,
        result: bool,
    ) -> Result<Reply, ErrorReply> {
        let key = operation_id.to_ascii_lowercase();
        let op = self.operations.get(&key).filter(|op| {
            op.subscription.eq_ignore_ascii_case(subscription) && op.location.eq_ignore_ascii_case(location)
        });
        let Some(op) = op else {
            // invented: Azure's code for this is not published
            return Err(ErrorReply::new(
                StatusCode::NOT_FOUND,
                "OperationNotFound",
                format!(
                    "Operation {operation_id} was not found in subscription '{subscription}', location '{location}'."
                ),
            ));
        };
        if op.remaining > 0 {
            let (location_url, retry_after) = (op.location_url.clone(), op.retry_after);
            self.step(&key);
            let mut reply = if result {
                let mut reply = Reply::empty(StatusCode::ACCEPTED);
                reply.location = Some(location_url);
                reply
            } else {
                Reply::json(StatusCode::OK, &AsyncOperationResult { status: "InProgress".into(), error: None })
            };
            // Network RP status URLs carry Retry-After too; without it clients fall back to long defaults.
            reply.retry_after = Some(retry_after);
            return Ok(reply);
        }
        Ok(match (&op.failure, result) {
            (Some(f), false) => Reply::json(
                StatusCode::OK,
                &AsyncOperationResult { status: format!("{:?}", f.end), error: Some(f.error.clone()) },
            ),
            (Some(f), true) => Reply::json(f.http, &json!({"error": f.error})),
            (None, false) => {
                Reply::json(StatusCode::OK, &AsyncOperationResult { status: "Succeeded".into(), error: None })
            }
            (None, true) => match &op.result {
                OpResult::Info(info) => Reply::json(StatusCode::OK, info),
                OpResult::Resource(fl) => Reply::json(StatusCode::OK, fl),
                OpResult::NoContent => Reply::empty(StatusCode::NO_CONTENT),
            },
        })
    }

    fn step(&mut self, id: &str) {
        let Some(op) = self.operations.get_mut(id) else { return };
        op.remaining = op.remaining.saturating_sub(1);
        if op.remaining == 0 {
            self.finish(id);
        }
    }

    /// Applies the end of an operation: undo on failure, removal after a delete.
    fn finish(&mut self, id: &str) {
        let Some(op) = self.operations.get_mut(id) else { return };
        let (failed, deleting) = (op.failure.is_some(), op.deleting);
        let undo = op.undo.take();
        let flow_log = op.flow_log.clone();
        if failed {
            if let Some((w, name, before)) = undo {
                self.flow_logs.retain(|f| !f.is(w, &name));
                self.flow_logs.extend(before);
            }
        } else if deleting && let Some((w, name)) = flow_log {
            self.flow_logs.retain(|f| !f.is(w, &name));
        }
    }

    // ---- provider registration ---------------------------------------------------------------------------------

    /// `GET /subscriptions/{sub}/providers/{namespace}` (`register: false`) or `POST .../register`.
    pub(super) fn provider(
        &mut self,
        subscription: &str,
        namespace: &str,
        register: bool,
    ) -> Result<Reply, ErrorReply> {
        let sub = self.world.sub(subscription)?.id.clone();
        let key = (sub.to_ascii_lowercase(), namespace.to_ascii_lowercase());
        let reads = self.inventory.behaviour.provider_registration_reads;
        let Some((canonical, state)) = self.providers.get_mut(&key) else {
            // Real ARM code; the message as far as known.
            return Err(ErrorReply::new(
                StatusCode::NOT_FOUND,
                "InvalidResourceNamespace",
                format!("The resource namespace '{namespace}' is invalid."),
            ));
        };
        let shown = match (*state, register) {
            (Registration::NotRegistered, true) => {
                *state = Registration::Registering(reads);
                "Registering"
            }
            (Registration::Registering(_), true) => "Registering",
            (Registration::Registering(0), false) => {
                *state = Registration::Registered;
                "Registered"
            }
            (Registration::Registering(n), false) => {
                *state = Registration::Registering(n - 1);
                "Registering"
            }
            (Registration::NotRegistered, false) => "NotRegistered",
            (Registration::Registered, _) => "Registered",
        };
        if register && shown == "Registering" {
            tracing::info!(subscription = %sub, namespace = %canonical, "provider registering");
        }
        Ok(Reply::json(
            StatusCode::OK,
            &Provider {
                id: Some(format!("/subscriptions/{sub}/providers/{canonical}")),
                namespace: canonical.clone(),
                registration_state: Some(shown.into()),
            },
        ))
    }

    // ---- drift (admin API) -------------------------------------------------------------------------------------

    /// What queryFlowLogStatus would answer for this NSG now.
    pub(super) fn flow_log_status(&self, target_resource_id: &str) -> Option<FlowLogInformation> {
        self.world.nsgs.iter().position(|n| same_id(&n.id, target_resource_id)).map(|i| self.legacy_status(i))
    }

    pub(super) fn all_flow_log_statuses(&self) -> Vec<FlowLogInformation> {
        (0..self.world.nsgs.len()).map(|i| self.legacy_status(i)).collect()
    }

    /// Drift: stores `info` as the NSG's flow log, creating one if needed, without the API's checks.
    pub(super) fn set_flow_log(&mut self, info: FlowLogInformation) -> Result<(), String> {
        let nsg = self
            .world
            .nsgs
            .iter()
            .position(|n| same_id(&n.id, &info.target_resource_id))
            .ok_or_else(|| format!("no network security group {:?} in the inventory", info.target_resource_id))?;
        let mut identity = match info.identity {
            Some(v) => Some(serde_json::from_value::<ManagedServiceIdentity>(v).map_err(|e| format!("identity: {e}"))?),
            None => None,
        };
        if let Some(i) = identity.as_mut() {
            self.fill_identity(i);
        }
        let analytics = match info.flow_analytics_configuration {
            Some(v) => Some(
                serde_json::from_value::<TrafficAnalyticsProperties>(v)
                    .map_err(|e| format!("flowAnalyticsConfiguration: {e}"))?,
            ),
            None => None,
        };
        let settings = FlowLogSettings::new(info.properties, analytics, identity);
        let n = &self.world.nsgs[nsg];
        let target = n.id.clone();
        match self.flow_log_of_target(&target) {
            Some(i) => settings.apply(&mut self.flow_logs[i]),
            None => {
                let w = self
                    .world
                    .watchers
                    .iter()
                    .position(|w| {
                        ResourceId::parse(&target).is_ok_and(|t| w.subscription.eq_ignore_ascii_case(&t.subscription))
                            && w.location.eq_ignore_ascii_case(&n.location)
                    })
                    .ok_or_else(|| format!("no network watcher in {} to hold a flow log of {target}", n.location))?;
                let name = flow_log_name(&n.resource_group, &n.name);
                if self.flow_logs.iter().any(|f| f.is(w, &name)) {
                    return Err(format!("flow log {name} of the watcher in {} targets another resource", n.location));
                }
                let location = self.world.watchers[w].location.clone();
                self.flow_logs.push(StoredFlowLog::new(w, name, location, target, None, settings));
            }
        }
        Ok(())
    }
}

/// The configuration a write replaces; name, location and tags stay.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct FlowLogSettings {
    /// As the legacy actions carry them.
    pub properties: FlowLogProperties,
    /// As validated: workspace GUID, region and ID filled in when enabled.
    pub traffic_analytics: Option<TrafficAnalyticsConfigurationProperties>,
    pub identity: Option<ManagedServiceIdentity>,
}

impl FlowLogSettings {
    /// The settings of a legacy action's request, traffic analytics and identity as given.
    pub(super) fn new(
        properties: FlowLogProperties,
        analytics: Option<TrafficAnalyticsProperties>,
        identity: Option<ManagedServiceIdentity>,
    ) -> FlowLogSettings {
        FlowLogSettings {
            properties,
            traffic_analytics: analytics.and_then(|a| a.network_watcher_flow_analytics_configuration),
            identity,
        }
    }

    /// The settings of a `flowLogs` resource as sent (`enabled` defaults to false).
    pub(super) fn of_resource(
        props: FlowLogPropertiesFormat,
        identity: Option<ManagedServiceIdentity>,
    ) -> FlowLogSettings {
        let properties = FlowLogProperties {
            storage_id: props.storage_id,
            enabled: props.enabled.unwrap_or(false),
            enabled_filtering_criteria: props.enabled_filtering_criteria,
            record_types: props.record_types,
            retention_policy: props.retention_policy,
            format: props.format,
        };
        FlowLogSettings::new(properties, props.flow_analytics_configuration, identity)
    }

    pub(super) fn apply(&self, fl: &mut StoredFlowLog) {
        fl.settings = self.clone();
        fl.etag = new_etag();
    }
}

/// The watcher must be in the target's region.
pub(super) fn check_region(watcher: &super::world::Watcher, target: &str, location: &str) -> Result<(), ErrorReply> {
    if watcher.location.eq_ignore_ascii_case(location) {
        return Ok(());
    }
    // invented: Azure's code for this is not published
    Err(ErrorReply::new(
        StatusCode::BAD_REQUEST,
        "NetworkWatcherLocationMismatch",
        format!(
            "Network watcher {} is in region {}, but the target {target} is in region {location}. Use the network \
             watcher of the target's region.",
            watcher.id, watcher.location
        ),
    ))
}

fn failure(fault: &LroFault) -> Option<OperationFailure> {
    let end = fault.end?;
    Some(OperationFailure {
        end,
        error: ErrorDetails {
            code: fault.code.clone().unwrap_or_else(|| "InternalServerError".into()),
            // The Network RP's text for an internal error.
            message: fault.message.clone().unwrap_or_else(|| "An error occurred.".into()),
            target: None,
            details: vec![],
        },
        http: fault.status.and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    })
}

/// Traffic analytics as answers carry it: a disabled configuration shows `-` for the workspace.
fn traffic_analytics_view(ta: &TrafficAnalyticsConfigurationProperties) -> TrafficAnalyticsConfigurationProperties {
    if ta.enabled == Some(true) {
        return ta.clone();
    }
    TrafficAnalyticsConfigurationProperties {
        enabled: Some(false),
        workspace_id: Some("-".into()),
        workspace_region: Some("-".into()),
        workspace_resource_id: None,
        traffic_analytics_interval: ta.traffic_analytics_interval,
    }
}

/// Azure's message for `NsgFlowLogCreationBlocked` (quoted in Azure/bicep-registry-modules PR #6049).
pub(super) const NSG_FLOW_LOG_CREATION_BLOCKED: &str = "On September 30, 2027, Network Security Group (NSG) flow logs \
will be retired. As part of this retirement, creation of new NSG flow logs is blocked starting June 30, 2025, but you \
will be able to continue using and modifying settings for existing NSG flow logs that are previously \
deployed/configured until Sept 30th 2027. We recommend migrating to virtual network flow logs, which overcome the \
limitations of NSG flow logs. For migration, please refer to \
https://learn.microsoft.com/en-us/azure/network-watcher/nsg-flow-logs-migrate.";

/// The name Azure gives the flow-log resource `configureFlowLog` materialises.
pub(super) fn flow_log_name(resource_group: &str, nsg: &str) -> String {
    format!("Microsoft.Network{resource_group}{nsg}")
}

pub(super) fn new_etag() -> String {
    format!("W/\"{}\"", uuid::Uuid::new_v4())
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

pub(super) fn record_types_problem(record_types: &str) -> Option<String> {
    let valid = record_types.split(',').all(|t| matches!(t.trim(), "B" | "C" | "E" | "D"));
    (!valid).then(|| {
        format!("Record types '{record_types}' are not supported; use a comma-separated list of B, C, E and D.")
    })
}

/// Parses a JSON body after checking the properties the spec marks required (JSON pointers).
pub(super) fn parse_body<T: DeserializeOwned>(body: &[u8], required: &[&str]) -> Result<T, ErrorReply> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ErrorReply::invalid_request(format!("invalid JSON ({e})")))?;
    if let Some(missing) = required.iter().find(|p| value.pointer(p).is_none_or(Value::is_null)) {
        let path = missing.trim_start_matches('/').replace('/', ".");
        return Err(ErrorReply::invalid_request(format!("required property '{path}' is missing")));
    }
    serde_json::from_value(value).map_err(ErrorReply::invalid_request)
}

/// The `resourceGuid` of the resource with this ID, which flow logs report as `targetResourceGuid`.
pub(super) fn resource_guid(id: &str) -> String {
    derived_guid(&format!("resourceGuid:{}", id.to_ascii_lowercase()))
}

/// A GUID derived from `seed`: stable across runs, so generated IDs compare in tests.
pub(super) fn derived_guid(seed: &str) -> String {
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
    use crate::faults::FaultRule;
    use crate::{DEFAULT_SUBSCRIPTION_ID as SUB, SECOND_SUBSCRIPTION_ID};

    const WEU: WatcherRef =
        WatcherRef { subscription: SUB, resource_group: "NetworkWatcherRG", name: "NetworkWatcher_westeurope" };

    fn nsg_id(rg: &str, name: &str) -> String {
        format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/networkSecurityGroups/{name}")
    }

    fn storage_id(name: &str) -> String {
        format!("/subscriptions/{SUB}/resourceGroups/logging-rg/providers/Microsoft.Storage/storageAccounts/{name}")
    }

    /// The built-in inventory with IDs answered in stored casing.
    fn state(mode: LroMode, in_progress_polls: u32) -> State {
        let mut inventory = Inventory::builtin();
        inventory.behaviour.lro.mode = mode;
        inventory.behaviour.lro.in_progress_polls = in_progress_polls;
        inventory.behaviour.quirks.upper_case_resource_groups = false;
        State::new(inventory)
    }

    fn ctx(request_id: &str) -> RequestContext<'_> {
        RequestContext { base: "http://sim", api_version: "2025-07-01", request_id, operation: CONFIGURE_FLOW_LOG }
    }

    /// configureFlowLog in sync mode.
    fn configure(state: &mut State, at: &WatcherRef, body: Value) -> Result<Value, ErrorReply> {
        let reply = state.configure(&ctx("op"), at, body.to_string().as_bytes())?;
        assert_eq!(reply.status, StatusCode::OK, "sync mode answers 200");
        Ok(reply.body.unwrap())
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

    fn code<T: std::fmt::Debug>(result: Result<T, ErrorReply>) -> (u16, String) {
        let e = result.expect_err("must fail");
        (e.status.as_u16(), e.error.code)
    }

    fn faults(state: &mut State, rules: Value) {
        let rules: Vec<FaultRule> = serde_json::from_value(rules).unwrap();
        state.faults = Faults::new(rules);
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
        assert_eq!(state.all_flow_log_statuses().len(), 6, "five NSGs in the first subscription, one in the second");
        assert!(state.flow_log_status(&nsg_id("app-prod-rg", "nope")).is_none());

        let mut inventory = Inventory::builtin();
        inventory.behaviour.quirks.disabled_flow_log_defaults = false;
        let mut without = State::new(inventory);
        let mut body = enable("web-nsg", "flowlogsweu001");
        body["properties"]["enabled"] = json!(false);
        without.configure(&ctx("x"), &WEU, body.to_string().as_bytes()).unwrap();
        let reported =
            serde_json::to_value(without.flow_log_status(&nsg_id("app-prod-rg", "web-nsg")).unwrap()).unwrap();
        assert_eq!(reported["properties"]["storageId"], storage_id("flowlogsweu001"), "quirk off: kept");
    }

    #[test]
    fn answers_carry_upper_cased_resource_groups_by_default() {
        let mut state = State::new(Inventory::builtin());
        let info = state.flow_log_status(&nsg_id("app-prod-rg", "web-nsg")).unwrap();
        assert_eq!(info.target_resource_id, nsg_id("APP-PROD-RG", "web-nsg"));
        assert_eq!(info.properties.storage_id, storage_id("flowlogsweu001"), "other IDs keep the inventory's casing");
        let fl = state.flow_log_of_target(&info.target_resource_id).unwrap();
        assert_eq!(
            state.flow_log_id(&state.flow_logs[fl]),
            format!(
                "/subscriptions/{SUB}/resourceGroups/NETWORKWATCHERRG/providers/Microsoft.Network/networkWatchers/\
                 NetworkWatcher_westeurope/FlowLogs/Microsoft.Networkapp-prod-rgweb-nsg"
            )
        );
        // Requests in any casing still match.
        let mut body = enable("web-nsg", "flowlogsweu001");
        body["targetResourceId"] = json!(info.target_resource_id.to_lowercase());
        assert!(state.configure(&ctx("x"), &WEU, body.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn creation_is_blocked_where_no_flow_log_exists() {
        let mut state = state(LroMode::Sync, 1);
        let e = configure(&mut state, &WEU, enable("new-nsg", "flowlogsweu001")).unwrap_err();
        assert_eq!((e.status.as_u16(), e.error.code.as_str()), (400, "NsgFlowLogCreationBlocked"));
        assert!(e.error.message.contains("creation of new NSG flow logs is blocked starting June 30, 2025"));
        assert_eq!(status(&state, "app-prod-rg", "new-nsg"), disabled_shape(&nsg_id("app-prod-rg", "new-nsg")));

        // Before the retirement, configureFlowLog created the flow-log resource Azure names after the NSG.
        state.inventory.behaviour.quirks.nsg_flow_log_creation_blocked = false;
        configure(&mut state, &WEU, enable("new-nsg", "flowlogsweu001")).unwrap();
        assert_eq!(status(&state, "app-prod-rg", "new-nsg"), enable("new-nsg", "flowlogsweu001"));
        let fl = &state.flow_logs[state.flow_log_of_target(&nsg_id("app-prod-rg", "new-nsg")).unwrap()];
        assert_eq!((fl.name.as_str(), fl.watcher), ("Microsoft.Networkapp-prod-rgnew-nsg", 0));

        // That name taken by a flow log of another target (web-nsg's here): nothing is overwritten.
        let db = state.flow_log_of_target(&nsg_id("app-prod-rg", "db-nsg")).unwrap();
        state.flow_logs.remove(db);
        state.flow_logs[0].name = "Microsoft.Networkapp-prod-rgdb-nsg".into();
        let taken = state.flow_logs[0].target.clone();
        assert_eq!(
            code(configure(&mut state, &WEU, enable("db-nsg", "flowlogsweu001"))),
            (400, "FlowLogTargetChangeNotAllowed".into())
        );
        assert!(
            state
                .set_flow_log(serde_json::from_value(enable("db-nsg", "flowlogsweu001")).unwrap())
                .unwrap_err()
                .contains("targets another resource")
        );
        assert_eq!(state.flow_logs[0].target, taken);
    }

    #[test]
    fn disabling_where_none_exists_succeeds_and_creates_nothing() {
        let mut state = state(LroMode::Sync, 1);
        let target = nsg_id("app-prod-rg", "new-nsg");
        let count = state.flow_logs.len();
        let body = json!({"targetResourceId": target, "properties": {"storageId": "", "enabled": false}});
        assert_eq!(configure(&mut state, &WEU, body).unwrap(), disabled_shape(&target));
        assert_eq!(state.flow_logs.len(), count);
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
        body["properties"]["recordTypes"] = json!("B,E");
        body["properties"]["enabledFilteringCriteria"] = json!("dstPort=443");
        let answer = configure(&mut state, &WEU, body.clone()).unwrap();
        assert_eq!(answer, body, "the whole configuration is replaced and echoed");
        assert_eq!(status(&state, "app-prod-rg", "web-nsg"), body);
        assert_eq!(
            configure(&mut state, &WEU, enable("db-nsg", "flowlogsweu001")).unwrap()["properties"]["enabled"],
            true,
            "the disabled one in the inventory can be enabled too"
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
        let workspace = |name: &str| {
            format!(
                "/subscriptions/{SUB}/resourceGroups/logging-rg/providers/Microsoft.OperationalInsights/workspaces/{name}"
            )
        };
        let analytics = |config: Value| {
            with(&|b| b["flowAnalyticsConfiguration"] = json!({"networkWatcherFlowAnalyticsConfiguration": config}))
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
            ("record types", WEU, with(&|b| b["properties"]["recordTypes"] = json!("B,X")), 400, "InvalidRecordTypes"),
            ("unknown storage", WEU, enable("web-nsg", "nope"), 400, "InvalidResourceReference"),
            (
                "storage in another region",
                WEU,
                enable("web-nsg", "flowlogsneu001"),
                400,
                "StorageAccountLocationMismatch",
            ),
            (
                "analytics not an object",
                WEU,
                with(&|b| b["flowAnalyticsConfiguration"] = json!(3)),
                400,
                "InvalidRequestFormat",
            ),
            (
                "analytics interval",
                WEU,
                analytics(json!({"enabled": false, "trafficAnalyticsInterval": 30})),
                400,
                "InvalidTrafficAnalyticsInterval",
            ),
            ("analytics without workspace", WEU, analytics(json!({"enabled": true})), 400, "InvalidRequestFormat"),
            (
                "unknown workspace",
                WEU,
                analytics(json!({"enabled": true, "workspaceResourceId": workspace("nope")})),
                400,
                "InvalidResourceReference",
            ),
            (
                "workspace in another region",
                WEU,
                analytics(json!({"enabled": true, "workspaceResourceId": workspace("flowlogs-law-neu")})),
                400,
                "InvalidTAWorkspaceRegion",
            ),
            (
                "wrong workspace region",
                WEU,
                analytics(
                    json!({"enabled": true, "workspaceResourceId": workspace("flowlogs-law-weu"), "workspaceRegion": "eastus2"}),
                ),
                400,
                "InvalidTAWorkspaceRegion",
            ),
            (
                "wrong workspace id",
                WEU,
                analytics(
                    json!({"enabled": true, "workspaceResourceId": workspace("flowlogs-law-weu"), "workspaceId": "55555555-5555-5555-5555-555555555552"}),
                ),
                400,
                "TrafficAnalyticsWorkspaceIdMismatch",
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
        let e = configure(
            &mut state,
            &WEU,
            with(&|b| {
                b["flowAnalyticsConfiguration"] = json!({"networkWatcherFlowAnalyticsConfiguration": {
                "enabled": true, "workspaceResourceId": workspace("flowlogs-law-weu"), "workspaceRegion": "eastus2"}});
            }),
        )
        .unwrap_err();
        assert_eq!(
            e.error.message,
            format!(
                "The specified region eastus2 for workspace is invalid. Workspace {} located in westeurope region.",
                workspace("flowlogs-law-weu")
            )
        );
    }

    #[test]
    fn traffic_analytics_is_completed_from_the_workspace() {
        let mut state = state(LroMode::Sync, 1);
        let workspace = format!(
            "/subscriptions/{SUB}/resourceGroups/LOGGING-RG/providers/Microsoft.OperationalInsights/workspaces/flowlogs-law-weu"
        );
        let mut body = enable("web-nsg", "flowlogsweu001");
        body["flowAnalyticsConfiguration"] =
            json!({"networkWatcherFlowAnalyticsConfiguration": {"enabled": true, "workspaceResourceId": workspace}});
        let answer = configure(&mut state, &WEU, body.clone()).unwrap();
        assert_eq!(
            answer["flowAnalyticsConfiguration"],
            json!({"networkWatcherFlowAnalyticsConfiguration": {
                "enabled": true, "workspaceId": "55555555-5555-5555-5555-555555555551", "workspaceRegion": "westeurope",
                "workspaceResourceId": workspace.replace("LOGGING-RG", "logging-rg"), "trafficAnalyticsInterval": 60}})
        );
        body["flowAnalyticsConfiguration"]["networkWatcherFlowAnalyticsConfiguration"] =
            json!({"enabled": false, "trafficAnalyticsInterval": 10});
        let answer = configure(&mut state, &WEU, body).unwrap();
        assert_eq!(
            answer["flowAnalyticsConfiguration"],
            json!({"networkWatcherFlowAnalyticsConfiguration": {
                "enabled": false, "workspaceId": "-", "workspaceRegion": "-", "trafficAnalyticsInterval": 10}})
        );
    }

    #[test]
    fn enabling_needs_microsoft_insights_registered() {
        let mut state = state(LroMode::Sync, 1);
        let at = WatcherRef { subscription: SECOND_SUBSCRIPTION_ID, ..WEU };
        let nsg = format!(
            "/subscriptions/{SECOND_SUBSCRIPTION_ID}/resourceGroups/edge-rg/providers/Microsoft.Network/networkSecurityGroups/edge-nsg"
        );
        let storage = format!(
            "/subscriptions/{SECOND_SUBSCRIPTION_ID}/resourceGroups/edge-logging-rg/providers/Microsoft.Storage/storageAccounts/flowlogsweu002"
        );
        let mut body = json!({"targetResourceId": nsg, "properties": {"storageId": storage, "enabled": true}});
        let e = configure(&mut state, &at, body.clone()).unwrap_err();
        assert_eq!((e.status.as_u16(), e.error.code.as_str()), (409, "MissingSubscriptionRegistration"));
        assert!(e.error.message.contains("'Microsoft.Insights'"));
        body["properties"]["enabled"] = json!(false);
        assert!(configure(&mut state, &at, body.clone()).is_ok(), "disabling needs no registration");

        let provider = |state: &mut State, register: bool| {
            let reply = state.provider(&SECOND_SUBSCRIPTION_ID.to_uppercase(), "microsoft.insights", register).unwrap();
            reply.body.unwrap()["registrationState"].as_str().unwrap().to_string()
        };
        assert_eq!(provider(&mut state, false), "NotRegistered");
        let registered = state.provider(SECOND_SUBSCRIPTION_ID, "microsoft.insights", true).unwrap().body.unwrap();
        assert_eq!(
            registered,
            json!({"id": format!("/subscriptions/{SECOND_SUBSCRIPTION_ID}/providers/Microsoft.Insights"),
                   "namespace": "Microsoft.Insights", "registrationState": "Registering"})
        );
        body["properties"]["enabled"] = json!(true);
        assert_eq!(code(configure(&mut state, &at, body.clone())).1, "MissingSubscriptionRegistration", "not yet");
        // providerRegistrationReads: 2
        assert_eq!(provider(&mut state, false), "Registering");
        assert_eq!(provider(&mut state, true), "Registering", "registering again changes nothing");
        assert_eq!(provider(&mut state, false), "Registering");
        assert_eq!(provider(&mut state, false), "Registered");
        assert_eq!(provider(&mut state, true), "Registered");
        assert!(configure(&mut state, &at, body).is_ok());

        assert_eq!(code(state.provider(SUB, "Microsoft.Nope", false)), (404, "InvalidResourceNamespace".into()));
        assert_eq!(code(state.provider("nope", "Microsoft.Insights", false)), (404, "SubscriptionNotFound".into()));
        assert_eq!(provider_state(&mut state, SUB, "Microsoft.Storage"), "NotRegistered");
        assert_eq!(provider_state(&mut state, SUB, "Microsoft.Insights"), "Registered");
    }

    fn provider_state(state: &mut State, sub: &str, namespace: &str) -> String {
        state.provider(sub, namespace, false).unwrap().body.unwrap()["registrationState"].as_str().unwrap().into()
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
        let reply = query(&mut state, json!({"targetResourceId": nsg_id("APP-PROD-RG", "web-nsg")})).unwrap();
        assert_eq!(reply.body.unwrap()["targetResourceId"], nsg_id("app-prod-rg", "web-nsg"));
    }

    #[test]
    fn async_writes_lock_the_target_until_polled_through() {
        let mut state = state(LroMode::Async, 1);
        let body = enable("web-nsg", "flowlogsweu001").to_string();
        let accepted = state.configure(&ctx("op-1"), &WEU, body.as_bytes()).unwrap();
        assert_eq!((accepted.status, accepted.retry_after), (StatusCode::ACCEPTED, Some(1)));
        let location_url = accepted.location.clone().unwrap();
        let status_url = accepted.async_operation.clone().unwrap();
        assert_eq!(
            location_url,
            format!(
                "http://sim/subscriptions/{SUB}/providers/Microsoft.Network/locations/westeurope/operationResults/op-1?api-version=2025-07-01"
            )
        );
        assert_eq!(status_url, location_url.replace("/operationResults/", "/operations/"));
        let body_202 = accepted.body.unwrap();
        assert_eq!(body_202["targetResourceId"], nsg_id("app-prod-rg", "web-nsg"));
        assert_eq!(
            status(&state, "app-prod-rg", "web-nsg")["properties"]["retentionPolicy"],
            Value::Null,
            "applied at acceptance"
        );

        let e = state.configure(&ctx("op-2"), &WEU, body.as_bytes()).unwrap_err();
        assert_eq!((e.status.as_u16(), e.error.code.as_str()), (409, "AnotherOperationInProgress"));
        assert!(e.error.message.ends_with(&format!("use uri: {status_url}")), "{}", e.error.message);
        // Reads and other targets are not locked.
        let query = json!({"targetResourceId": nsg_id("app-prod-rg", "web-nsg")}).to_string();
        assert!(state.query(&ctx("op-3"), &WEU, query.as_bytes()).is_ok());
        assert!(state.configure(&ctx("op-4"), &WEU, enable("db-nsg", "flowlogsweu001").to_string().as_bytes()).is_ok());

        assert_eq!(code(state.poll(SUB, "northeurope", "op-1", false)), (404, "OperationNotFound".into()));
        let poll = state.poll(SUB, "WestEurope", "OP-1", true).unwrap();
        assert_eq!(
            (poll.status, poll.location.as_deref(), poll.retry_after),
            (StatusCode::ACCEPTED, Some(location_url.as_str()), Some(1))
        );
        assert!(state.configure(&ctx("op-5"), &WEU, body.as_bytes()).is_ok(), "done after inProgressPolls polls");
        let done = state.poll(SUB, "westeurope", "op-1", true).unwrap();
        assert_eq!((done.status, done.body.unwrap()), (StatusCode::OK, body_202));
        let done = state.poll(SUB, "westeurope", "op-1", false).unwrap();
        assert_eq!(done.body.unwrap(), json!({"status": "Succeeded"}));

        state.inventory.behaviour.quirks.another_operation_in_progress = false;
        assert!(state.configure(&ctx("op-6"), &WEU, body.as_bytes()).is_ok());
        assert!(state.configure(&ctx("op-7"), &WEU, body.as_bytes()).is_ok(), "quirk off: no conflict");
    }

    #[test]
    fn zero_in_progress_polls_complete_at_once() {
        let mut state = state(LroMode::Async, 0);
        let body = enable("web-nsg", "flowlogsweu001").to_string();
        assert_eq!(state.configure(&ctx("a"), &WEU, body.as_bytes()).unwrap().status, StatusCode::ACCEPTED);
        assert_eq!(state.poll(SUB, "westeurope", "a", true).unwrap().status, StatusCode::OK);
        assert!(state.configure(&ctx("b"), &WEU, body.as_bytes()).is_ok());
    }

    #[test]
    fn lro_faults_stretch_fail_and_undo_operations() {
        let mut state = state(LroMode::Async, 1);
        faults(
            &mut state,
            json!([
                {"operation": "configureFlowLog", "count": 1, "effect": {"lro": {"inProgressPolls": 3}}},
                {"operation": "configureFlowLog", "count": 1,
                 "effect": {"lro": {"end": "Failed", "code": "InternalServerError", "message": "An error occurred."}}},
                {"operation": "configureFlowLog", "count": 1, "effect": {"lro": {"end": "Canceled", "status": 409}}},
            ]),
        );
        let before = status(&state, "app-prod-rg", "web-nsg");
        let mut body = enable("web-nsg", "flowlogsweu001");
        body["properties"]["retentionPolicy"] = json!({"days": 90, "enabled": true});
        let body = body.to_string();

        state.configure(&ctx("slow"), &WEU, body.as_bytes()).unwrap();
        for _ in 0..3 {
            assert_eq!(state.poll(SUB, "westeurope", "slow", false).unwrap().body.unwrap()["status"], "InProgress");
        }
        assert_eq!(state.poll(SUB, "westeurope", "slow", false).unwrap().body.unwrap()["status"], "Succeeded");
        let changed = status(&state, "app-prod-rg", "web-nsg");
        assert_eq!(changed["properties"]["retentionPolicy"]["days"], 90);

        let mut revert = serde_json::from_str::<Value>(&body).unwrap();
        revert["properties"]["retentionPolicy"]["days"] = json!(1);
        state.configure(&ctx("failing"), &WEU, revert.to_string().as_bytes()).unwrap();
        assert_eq!(
            status(&state, "app-prod-rg", "web-nsg")["properties"]["retentionPolicy"]["days"],
            1,
            "applied while running"
        );
        state.poll(SUB, "westeurope", "failing", false).unwrap();
        let failed = state.poll(SUB, "westeurope", "failing", false).unwrap();
        assert_eq!(
            failed.body.unwrap(),
            json!({"status": "Failed", "error": {"code": "InternalServerError", "message": "An error occurred.", "details": []}})
        );
        let result = state.poll(SUB, "westeurope", "failing", true).unwrap();
        assert_eq!(result.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(result.body.unwrap()["error"]["code"], "InternalServerError");
        assert_eq!(
            status(&state, "app-prod-rg", "web-nsg"),
            changed,
            "a failed operation leaves the flow log as before"
        );

        state.configure(&ctx("canceled"), &WEU, revert.to_string().as_bytes()).unwrap();
        state.poll(SUB, "westeurope", "canceled", true).unwrap();
        assert_eq!(state.poll(SUB, "westeurope", "canceled", false).unwrap().body.unwrap()["status"], "Canceled");
        assert_eq!(state.poll(SUB, "westeurope", "canceled", true).unwrap().status, StatusCode::CONFLICT);
        assert_ne!(before, changed);

        // In sync mode a failing operation fails the request, and nothing changes.
        let mut state = self::state(LroMode::Sync, 1);
        faults(&mut state, json!([{"operation": "configureFlowLog", "effect": {"lro": {"end": "Failed"}}}]));
        let e = state.configure(&ctx("sync"), &WEU, body.as_bytes()).unwrap_err();
        assert_eq!((e.status.as_u16(), e.error.code.as_str()), (500, "InternalServerError"));
        assert_eq!(status(&state, "app-prod-rg", "web-nsg"), before);
    }

    #[test]
    fn identities_get_the_inventorys_or_stable_generated_ids() {
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
        let again = configure(&mut state, &WEU, body.clone()).unwrap()["identity"]["userAssignedIdentities"]
            [uai.to_uppercase()]
        .clone();
        assert_eq!(again, first);

        let known = state.inventory.managed_identities[1].clone();
        let id = known.resource_id.clone().unwrap();
        body["identity"]["userAssignedIdentities"] = json!({id.clone(): {}});
        let answer = configure(&mut state, &WEU, body).unwrap();
        assert_eq!(
            answer["identity"],
            json!({"type": "UserAssigned", "userAssignedIdentities": {id: {"clientId": known.client_id, "principalId": known.principal_id}}})
        );
        assert_eq!(code(configure(&mut state, &WEU, with_identity(json!("x")))), (400, "InvalidRequestFormat".into()));
    }

    fn with_identity(identity: Value) -> Value {
        let mut body = enable("web-nsg", "flowlogsweu001");
        body["identity"] = identity;
        body
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
        let fl = &state.flow_logs[state.flow_log_of_target(&nsg_id("app-prod-rg", "new-nsg")).unwrap()];
        assert_eq!(fl.name, "Microsoft.Networkapp-prod-rgnew-nsg");
        // It exists now, so the API may change it.
        assert!(configure(&mut state, &WEU, enable("new-nsg", "flowlogsweu001")).is_ok());
    }

    #[test]
    fn counts_calls() {
        let mut state = state(LroMode::Sync, 1);
        state.count(CONFIGURE_FLOW_LOG);
        state.count(CONFIGURE_FLOW_LOG);
        assert_eq!(state.counters()[CONFIGURE_FLOW_LOG], 2);
        assert_eq!(state.counters()[TOKEN], 0);
        assert_eq!(state.counters().len(), OPERATIONS.len());
        state.reset_counters();
        assert!(state.counters().values().all(|n| *n == 0));
    }
}
