//! The checks of a write to a flow log, the same for both APIs: the watcher's region, the target's lock while
//! another write is in flight, the NSG flow-log creation block, retention, format, record types, storage account,
//! traffic analytics and identities, and the Microsoft.Insights registration that enabling needs.

use axum::http::StatusCode;

use super::flow_log_store::{FlowLogConfig, fill_identity};
use super::reply::ErrorReply;
use super::rules::{NSG_FLOW_LOG_CREATION_BLOCKED, format_problem, record_types_problem, retention_problem};
use super::state::State;
use super::world::KnownWatcher;
use flowlog_wire::id::same_id;
use flowlog_wire::model::{FlowLogProperties, TrafficAnalyticsConfigurationProperties};

impl State {
    /// 409 while another write to the same target is in flight (when that quirk is on).
    pub(super) fn check_lock(&self, lock: &str) -> Result<(), ErrorReply> {
        if !self.inventory.behaviour.quirks.another_operation_in_progress {
            return Ok(());
        }
        self.operations.check_lock(lock)
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
        s: &mut FlowLogConfig,
        w: usize,
        target: &str,
        referrer: &str,
    ) -> Result<(), ErrorReply> {
        let watcher = &self.world.watchers[w];
        self.check_properties(&mut s.properties, target, &watcher.location, referrer)?;
        s.traffic_analytics = self.check_traffic_analytics(s.traffic_analytics.take(), &watcher.location, referrer)?;
        if let Some(identity) = s.identity.as_mut() {
            fill_identity(&self.inventory, identity);
        }
        if s.properties.enabled {
            self.providers.check_insights_registered(&watcher.subscription)?;
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
}

/// The watcher must be in the target's region.
pub(super) fn check_region(watcher: &KnownWatcher, target: &str, location: &str) -> Result<(), ErrorReply> {
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::inventory::LroMode;
    use crate::request::WatcherRef;
    use crate::test_fixtures::*;

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
}
