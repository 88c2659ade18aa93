//! The `flowLogs` child resource of a network watcher (PUT, GET, list, PATCH tags, DELETE), on the same store as
//! the legacy actions.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::Value;

use super::flow_log_store::{FlowLogConfig, StoredFlowLog};
use super::guid::new_etag;
use super::inventory::LroMode;
use super::lro::{NewOperation, OpResult};
use super::reply::{ErrorReply, Reply};
use super::request::{RequestContext, WatcherRef, parse_body};
use super::state::State;
use super::world::{ResourcePath, TargetKind, WATCHER_TYPE};
use super::write_checks::check_region;
use flowlog_wire::id::{ResourceId, same_id};
use flowlog_wire::model::{API_VERSION, FlowLog, ListResult};

const SUBNET_TYPE: &str = "Microsoft.Network/virtualNetworks/subnets";

/// The first api-version with the `flowLogs` resource.
const FIRST_FLOW_LOGS_API_VERSION: &str = "2019-07-01";

impl State {
    /// The watcher of a `flowLogs` request, after checking that the api-version has the resource.
    fn flow_logs_watcher(&self, ctx: &RequestContext, at: &WatcherRef) -> Result<usize, ErrorReply> {
        let w = self.world.watcher_index(&at.path())?;
        let version = ctx.api_version;
        let is_date = version.len() >= 10
            && version
                .bytes()
                .take(10)
                .enumerate()
                .all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
        if is_date && version[..10] >= *FIRST_FLOW_LOGS_API_VERSION {
            return Ok(w);
        }
        // ARM's code; the list of versions in the message is abridged.
        Err(ErrorReply::new(
            StatusCode::BAD_REQUEST,
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location '{}' and API version '{version}' for type \
                 'networkWatchers/flowLogs'. The supported api-versions are '{FIRST_FLOW_LOGS_API_VERSION}' to \
                 '{API_VERSION}'.",
                self.world.watchers[w].location
            ),
        ))
    }

    fn flow_log_path<'a>(at: &'a WatcherRef, name: &'a str) -> ResourcePath<'a> {
        ResourcePath {
            subscription: at.subscription,
            resource_group: at.resource_group,
            resource_type: format!("{WATCHER_TYPE}/{}/flowLogs", at.name),
            name,
        }
    }

    fn find_flow_log(&self, w: usize, at: &WatcherRef, name: &str) -> Result<usize, ErrorReply> {
        self.flow_logs.iter().position(|f| f.is(w, name)).ok_or_else(|| Self::flow_log_path(at, name).not_found())
    }

    /// `PUT .../networkWatchers/{nw}/flowLogs/{name}`: 201 (create) or 200 (update), long-running.
    pub(super) fn put_flow_log(
        &mut self,
        ctx: &RequestContext,
        at: &WatcherRef,
        name: &str,
        body: &[u8],
    ) -> Result<Reply, ErrorReply> {
        let w = self.flow_logs_watcher(ctx, at)?;
        let value: Value =
            serde_json::from_slice(body).map_err(|e| ErrorReply::invalid_request(format!("invalid JSON ({e})")))?;
        if !value.is_object() {
            return Err(ErrorReply::invalid_request("the body is not a JSON object"));
        }
        if value.get("location").is_none_or(Value::is_null) {
            return Err(ErrorReply::new(
                StatusCode::BAD_REQUEST,
                "LocationRequired",
                "The location property is required for this definition.",
            ));
        }
        let request: FlowLog = parse_body(
            value.to_string().as_bytes(),
            &["/properties", "/properties/targetResourceId", "/properties/storageId"],
        )?;
        let watcher = &self.world.watchers[w];
        let (subscription, location) = (watcher.subscription.clone(), watcher.location.clone());
        let flow_log_id = format!("{}/FlowLogs/{name}", watcher.id);
        let requested_location = request.location.as_deref().unwrap_or_default();
        if !requested_location.eq_ignore_ascii_case(&location) {
            // invented: Azure's code for this is not published
            return Err(ErrorReply::new(
                StatusCode::BAD_REQUEST,
                "NetworkWatcherLocationMismatch",
                format!(
                    "The flow log's location {requested_location} differs from the location {location} of network \
                     watcher {}.",
                    watcher.id
                ),
            ));
        }
        let target_id = &request.properties.target_resource_id;
        let target =
            self.world.target(target_id).ok_or_else(|| ErrorReply::invalid_reference(target_id, &flow_log_id))?;
        check_region(watcher, target.id, target.location)?;
        let (target_id, nsg) = (target.id.to_string(), matches!(target.kind, TargetKind::Nsg(_)));
        let existing = self.flow_logs.iter().position(|f| f.is(w, name));
        if let Some(i) = existing.filter(|i| !same_id(&self.flow_logs[*i].target, &target_id)) {
            // invented: Azure's code for this is not published
            return Err(ErrorReply::new(
                StatusCode::BAD_REQUEST,
                "FlowLogTargetChangeNotAllowed",
                format!(
                    "Flow log {flow_log_id} targets {}; its target cannot be changed to {target_id}. Delete it and \
                     create a new one.",
                    self.flow_logs[i].target
                ),
            ));
        }
        if let Some(other) = self.flow_log_of_target(&target_id).filter(|j| Some(*j) != existing) {
            // invented: Azure's code for this is not published
            return Err(ErrorReply::new(
                StatusCode::BAD_REQUEST,
                "FlowLogAlreadyExistsForTarget",
                format!(
                    "Target {target_id} already has flow log {}; a target can have only one flow log.",
                    self.flow_log_id(&self.flow_logs[other])
                ),
            ));
        }
        self.check_lock(&target_id.to_ascii_lowercase())?;
        self.check_nsg_flow_log_creation(nsg && existing.is_none())?;
        let mut settings = FlowLogConfig::of_resource(request.properties, request.identity);
        self.check_settings(&mut settings, w, &target_id, &flow_log_id)?;
        let fault = self.lro_fault(ctx)?;
        self.accept_write(ctx, &target_id);
        let before = existing.map(|i| self.flow_logs[i].clone());
        let stored = self.write_flow_log(w, name, target_id.clone(), request.tags, settings);
        tracing::info!(
            flow_log = %flow_log_id, target = %target_id, enabled = stored.settings.properties.enabled,
            "flow log written"
        );
        let status = if before.is_some() { StatusCode::OK } else { StatusCode::CREATED };
        if self.inventory.behaviour.lro.mode == LroMode::Sync {
            return Ok(Reply::json(status, &self.resource_view(&stored, "Succeeded")));
        }
        let op = NewOperation {
            subscription,
            location,
            lock: Some(target_id.to_ascii_lowercase()),
            flow_log: Some((w, name.to_ascii_lowercase())),
            deleting: false,
            result: OpResult::Resource(Box::new(self.resource_view(&stored, "Succeeded"))),
            undo: Some((w, name.to_ascii_lowercase(), before)),
        };
        let (status_url, _, retry_after) = self.start(ctx, op, fault);
        // With no polls to wait for, the operation may have ended (and failed) already.
        let mut reply = match self.flow_logs.iter().find(|f| f.is(w, name)) {
            Some(now) => Reply::json(status, &self.resource_view(now, self.provisioning_state(now))),
            None => Reply::json(status, &self.resource_view(&stored, "Failed")),
        };
        reply.async_operation = Some(status_url);
        reply.retry_after = Some(retry_after);
        Ok(reply)
    }

    /// `GET .../flowLogs/{name}`. A read of a flow log whose operation is in flight counts as a poll of it, so that
    /// a client that lost the operation URL still sees it end.
    pub(super) fn get_flow_log(
        &mut self,
        ctx: &RequestContext,
        at: &WatcherRef,
        name: &str,
    ) -> Result<Reply, ErrorReply> {
        let w = self.flow_logs_watcher(ctx, at)?;
        let i = self.find_flow_log(w, at, name)?;
        let view = self.resource_view(&self.flow_logs[i], self.provisioning_state(&self.flow_logs[i]));
        self.advance_flow_log_operation(i);
        Ok(Reply::json(StatusCode::OK, &view))
    }

    /// `GET .../flowLogs`: pages of `behaviour.pageSize`, ordered by name, linked by `nextLink`.
    pub(super) fn list_flow_logs(
        &self,
        ctx: &RequestContext,
        at: &WatcherRef,
        skip_token: Option<&str>,
    ) -> Result<Reply, ErrorReply> {
        let w = self.flow_logs_watcher(ctx, at)?;
        let mut all: Vec<&StoredFlowLog> = self.flow_logs.iter().filter(|f| f.watcher == w).collect();
        all.sort_by_key(|f| f.name.to_ascii_lowercase());
        let after = skip_token.map(str::to_ascii_lowercase);
        let rest: Vec<&StoredFlowLog> =
            all.into_iter().filter(|f| after.as_ref().is_none_or(|a| f.name.to_ascii_lowercase() > *a)).collect();
        let page_size = self.inventory.behaviour.page_size.max(1);
        let page = &rest[..rest.len().min(page_size)];
        let next_link = (rest.len() > page.len()).then(|| {
            let last = page.last().map(|f| f.name.to_ascii_lowercase()).unwrap_or_default();
            let token: String = url::form_urlencoded::byte_serialize(last.as_bytes()).collect();
            format!(
                "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/networkWatchers/{}/flowLogs\
                 ?api-version={}&$skipToken={token}",
                ctx.base, at.subscription, at.resource_group, at.name, ctx.api_version
            )
        });
        let value: Vec<FlowLog> = page.iter().map(|f| self.resource_view(f, self.provisioning_state(f))).collect();
        Ok(Reply::json(StatusCode::OK, &ListResult { value, next_link }))
    }

    /// `PATCH .../flowLogs/{name}` with `{"tags": {...}}`: replaces the tags, synchronously.
    pub(super) fn patch_flow_log(
        &mut self,
        ctx: &RequestContext,
        at: &WatcherRef,
        name: &str,
        body: &[u8],
    ) -> Result<Reply, ErrorReply> {
        let w = self.flow_logs_watcher(ctx, at)?;
        let i = self.find_flow_log(w, at, name)?;
        #[derive(serde::Deserialize)]
        struct TagsObject {
            #[serde(default)]
            tags: BTreeMap<String, String>,
        }
        let TagsObject { tags } = parse_body(body, &[])?;
        self.check_lock(&self.flow_logs[i].target.to_ascii_lowercase())?;
        let fl = &mut self.flow_logs[i];
        fl.tags = Some(tags);
        fl.etag = new_etag();
        let fl = &self.flow_logs[i];
        Ok(Reply::json(StatusCode::OK, &self.resource_view(fl, self.provisioning_state(fl))))
    }

    /// `DELETE .../flowLogs/{name}`: 202 and a `Location` to poll (204 when done), or 204 when there is none; 400
    /// `SubnetNotFoundForFlowLog` when it targets a subnet that is gone.
    pub(super) fn delete_flow_log(
        &mut self,
        ctx: &RequestContext,
        at: &WatcherRef,
        name: &str,
    ) -> Result<Reply, ErrorReply> {
        let w = self.flow_logs_watcher(ctx, at)?;
        let Some(i) = self.flow_logs.iter().position(|f| f.is(w, name)) else {
            return Ok(Reply::empty(StatusCode::NO_CONTENT));
        };
        self.check_subnet_target(&self.flow_logs[i].target)?;
        let lock = self.flow_logs[i].target.to_ascii_lowercase();
        self.check_lock(&lock)?;
        let fault = self.lro_fault(ctx)?;
        let target = self.flow_logs[i].target.clone();
        self.accept_write(ctx, &target);
        tracing::info!(flow_log = %self.flow_log_id(&self.flow_logs[i]), "flow log deleted");
        if self.inventory.behaviour.lro.mode == LroMode::Sync {
            self.flow_logs.remove(i);
            return Ok(Reply::empty(StatusCode::NO_CONTENT));
        }
        let watcher = &self.world.watchers[w];
        let op = NewOperation {
            subscription: watcher.subscription.clone(),
            location: watcher.location.clone(),
            lock: Some(lock),
            flow_log: Some((w, name.to_ascii_lowercase())),
            deleting: true,
            result: OpResult::NoContent,
            undo: Some((w, name.to_ascii_lowercase(), Some(self.flow_logs[i].clone()))),
        };
        let (status_url, location_url, retry_after) = self.start(ctx, op, fault);
        let mut reply = Reply::empty(StatusCode::ACCEPTED);
        reply.location = Some(location_url);
        reply.async_operation = Some(status_url);
        reply.retry_after = Some(retry_after);
        Ok(reply)
    }

    /// Azure refuses to delete a flow log whose target subnet is gone (Azure/azure-cli#31506; the HTTP status is not
    /// shown there, 400 is assumed). Flow logs of other removed targets are deleted as usual.
    fn check_subnet_target(&self, target: &str) -> Result<(), ErrorReply> {
        let is_subnet = ResourceId::parse(target).is_ok_and(|t| t.is_type(SUBNET_TYPE));
        if !is_subnet || self.world.target(target).is_some() {
            return Ok(());
        }
        Err(ErrorReply::new(
            StatusCode::BAD_REQUEST,
            "SubnetNotFoundForFlowLog",
            format!("Subnet resource {target} passed for the flow log does not exist."),
        ))
    }

    /// Stores flow log `name` of watcher `w`, replacing the one of that name (whose name keeps its casing); answers
    /// what it stored.
    pub(super) fn write_flow_log(
        &mut self,
        w: usize,
        name: &str,
        target: String,
        tags: Option<BTreeMap<String, String>>,
        settings: FlowLogConfig,
    ) -> StoredFlowLog {
        let name = self.flow_logs.iter().find(|f| f.is(w, name)).map_or_else(|| name.to_string(), |f| f.name.clone());
        let location = self.world.watchers[w].location.clone();
        let stored = StoredFlowLog::new(w, name, location, target, tags, settings);
        self.flow_logs.retain(|f| !f.is(w, &stored.name));
        self.flow_logs.push(stored.clone());
        stored
    }
}
