//! The legacy flow-log actions of a network watcher, `queryFlowLogStatus` and `configureFlowLog`: NSG targets only,
//! on the same store as the `flowLogs` resource, answered at once (`sync`) or as long-running operations.

use axum::http::StatusCode;

use super::faults::LroFault;
use super::flow_log_store::{FlowLogConfig, StoredFlowLog};
use super::inventory::LroMode;
use super::lro::{NewOperation, OpResult};
use super::reply::{ErrorReply, Reply};
use super::request::{RequestContext, WatcherRef, parse_body};
use super::rules::flow_log_name;
use super::state::State;
use super::world::TargetKind;
use super::write_checks::check_region;
use flowlog_wire::id::ResourceId;
use flowlog_wire::model::{
    FlowLogInformation, FlowLogStatusParameters, ManagedServiceIdentity, TrafficAnalyticsProperties,
};

impl State {
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
        let mut settings = FlowLogConfig::new(request.properties, analytics, identity);
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
        self.accept_write(ctx, &target);
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
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::inventory::Inventory;
    use crate::test_fixtures::*;

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
}
