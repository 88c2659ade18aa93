//! The lists of ARM resources: network watchers (one page, `value` only, as the examples show), and the paged lists
//! of NSGs, virtual networks and NICs per subscription (ListAll) or resource group (List) and of subscriptions
//! (Subscriptions_List, tenant-level). A page holds `behaviour.pageSize` items ordered by name, then ID
//! (case-insensitively), each as its GET answers it; `nextLink` leads to the next page, with the lower-cased ID of
//! this page's last item as `$skipToken`, so a resource added or removed between two pages neither repeats nor hides
//! another; the last page has no `nextLink`.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::reply::{ErrorReply, Reply};
use super::request::RequestContext;
use super::routes::ListedType;
use super::state::State;

impl State {
    /// NetworkWatchers_List (`resource_group`) and _ListAll: one page, `value` only, as the examples show.
    pub(super) fn list_watchers(&self, subscription: &str, resource_group: Option<&str>) -> Result<Reply, ErrorReply> {
        self.check_scope(subscription, resource_group)?;
        let value: Vec<Value> = (0..self.world.watchers.len())
            .filter(|w| in_scope(&self.world.watchers[*w].id, subscription, resource_group))
            .map(|w| self.world.watcher_json(w))
            .collect();
        Ok(Reply::json(StatusCode::OK, &json!({"value": value})))
    }

    /// `{type}_List` (`resource_group`) and `{type}_ListAll` of NSGs, virtual networks and NICs, after ARM's checks
    /// of subscription and resource group: one page.
    pub(super) fn list_resources(
        &self,
        ctx: &RequestContext,
        listed: ListedType,
        (subscription, resource_group): (&str, Option<&str>),
        skip_token: Option<&str>,
    ) -> Result<Reply, ErrorReply> {
        self.check_scope(subscription, resource_group)?;
        let w = &self.world;
        let ids: Vec<&str> = match listed {
            ListedType::Nsgs => w.nsgs.iter().map(|n| n.id.as_str()).collect(),
            ListedType::Vnets => w.vnets.iter().map(|v| v.id.as_str()).collect(),
            ListedType::Nics => w.nics.iter().map(|n| n.id.as_str()).collect(),
        };
        let items = ids.into_iter().enumerate().filter(|(_, id)| in_scope(id, subscription, resource_group));
        let path = match resource_group {
            Some(rg) => format!("/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.Network"),
            None => format!("/subscriptions/{subscription}/providers/Microsoft.Network"),
        };
        let path = format!("{path}/{}", listed.segment());
        Ok(self.page(ctx, &path, items.map(|(i, id)| (i, id.to_string())).collect(), skip_token, |i| match listed {
            ListedType::Nsgs => w.nsg_json(i, self.flow_log_refs(&w.nsgs[i].id)),
            ListedType::Vnets => w.vnet_json(i, self.flow_log_refs(&w.vnets[i].id)),
            ListedType::Nics => w.nic_json(i),
        }))
    }

    /// Subscriptions_List (`GET /subscriptions`): every subscription of the inventory (the simulator has no role
    /// assignments to filter by), ordered by ID.
    pub(super) fn list_subscriptions(&self, ctx: &RequestContext, skip_token: Option<&str>) -> Reply {
        let items = self.world.subs.iter().enumerate().map(|(i, s)| (i, format!("/subscriptions/{}", s.id))).collect();
        self.page(ctx, "/subscriptions", items, skip_token, |i| self.world.subscription_json(i))
    }

    /// ARM's 404s for the subscription and, when given, the resource group of a list.
    fn check_scope(&self, subscription: &str, resource_group: Option<&str>) -> Result<(), ErrorReply> {
        match resource_group {
            Some(rg) => self.world.resource_group(subscription, rg),
            None => self.world.sub(subscription).map(|_| ()),
        }
    }

    /// The page after `skip_token` of `items` (index and ID), each rendered by `json_of`; `path` is the list's path,
    /// for `nextLink`.
    fn page(
        &self,
        ctx: &RequestContext,
        path: &str,
        items: Vec<(usize, String)>,
        skip_token: Option<&str>,
        json_of: impl Fn(usize) -> Value,
    ) -> Reply {
        let mut items: Vec<((String, String), usize)> = items.into_iter().map(|(i, id)| (sort_key(&id), i)).collect();
        items.sort();
        let after = skip_token.map(sort_key);
        let rest: Vec<&((String, String), usize)> =
            items.iter().filter(|(key, _)| after.as_ref().is_none_or(|a| key > a)).collect();
        let page = &rest[..rest.len().min(self.inventory.behaviour.page_size.max(1))];
        let mut body = json!({"value": page.iter().map(|(_, i)| json_of(*i)).collect::<Vec<_>>()});
        if let Some(((_, last), _)) = page.last().filter(|_| rest.len() > page.len()) {
            let token: String = url::form_urlencoded::byte_serialize(last.as_bytes()).collect();
            let version: String = url::form_urlencoded::byte_serialize(ctx.api_version.as_bytes()).collect();
            body["nextLink"] = json!(format!("{}{path}?api-version={version}&$skipToken={token}", ctx.base));
        }
        Reply::json(StatusCode::OK, &body)
    }
}

/// How lists order an item with this ID: by name (its last segment), then ID, case-insensitively.
fn sort_key(id: &str) -> (String, String) {
    let id = id.to_ascii_lowercase();
    (id.rsplit('/').next().unwrap_or_default().to_string(), id)
}

/// Whether `id` lies in the subscription (and resource group).
fn in_scope(id: &str, subscription: &str, resource_group: Option<&str>) -> bool {
    let prefix = match resource_group {
        Some(rg) => format!("/subscriptions/{subscription}/resourceGroups/{rg}/"),
        None => format!("/subscriptions/{subscription}/"),
    };
    id.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(&prefix))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::inventory::{LroMode, VirtualNetwork};
    use crate::test_fixtures::{SECOND_SUBSCRIPTION_ID, SUB, code, ctx, state};
    use crate::world::{ResourcePath, VNET_TYPE};
    use crate::{Applied, DEFAULT_TENANT_ID};

    fn list(state: &State, listed: ListedType, rg: Option<&str>, skip_token: Option<&str>) -> Value {
        state.list_resources(&ctx("list"), listed, (SUB, rg), skip_token).unwrap().body.unwrap()
    }

    fn names(page: &Value) -> Vec<&str> {
        page["value"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect()
    }

    /// Every page of a list, following `nextLink` (its `$skipToken`, as a client would send it back).
    fn all_pages(state: &State, listed: ListedType, rg: Option<&str>) -> Vec<Value> {
        let mut pages = vec![list(state, listed, rg, None)];
        while let Some(next) = pages.last().unwrap()["nextLink"].as_str() {
            let url = url::Url::parse(next).unwrap();
            let token = url.query_pairs().find(|(k, _)| k == "$skipToken").unwrap().1.into_owned();
            pages.push(list(state, listed, rg, Some(&token)));
        }
        pages
    }

    #[test]
    fn lists_come_in_pages_of_page_size_ordered_by_name() {
        let state = state(LroMode::Sync, 0);
        let pages = all_pages(&state, ListedType::Nsgs, None);
        let pages: Vec<Vec<&str>> = pages.iter().map(names).collect();
        assert_eq!(pages, [vec!["batch-nsg", "db-nsg"], vec!["new-nsg", "web-dr-nsg"], vec!["web-nsg"]]);

        let first = list(&state, ListedType::Vnets, None, None);
        assert_eq!(names(&first), ["app-vnet", "dr-vnet"]);
        let next = first["nextLink"].as_str().unwrap();
        let path = format!("http://sim/subscriptions/{SUB}/providers/Microsoft.Network/virtualNetworks");
        let token = format!(
            "%2Fsubscriptions%2F{SUB}%2Fresourcegroups%2Fapp-dr-rg%2Fproviders%2Fmicrosoft.network{}",
            "%2Fvirtualnetworks%2Fdr-vnet"
        );
        assert_eq!(next, format!("{path}?api-version=2025-07-01&$skipToken={token}"));
        let last = all_pages(&state, ListedType::Vnets, None).pop().unwrap();
        assert_eq!(names(&last), ["shared-vnet"]);
        assert!(last.get("nextLink").is_none(), "the last page has no nextLink: {last}");

        let mut big = state;
        big.inventory.behaviour.page_size = 10;
        let one = list(&big, ListedType::Nsgs, None, None);
        assert_eq!(names(&one).len(), 5);
        assert!(one.get("nextLink").is_none());
    }

    #[test]
    fn items_are_answered_as_their_get_answers_them_with_tags() {
        let state = state(LroMode::Sync, 0);
        let vnets: Vec<Value> = all_pages(&state, ListedType::Vnets, None)
            .iter()
            .flat_map(|p| p["value"].as_array().unwrap().clone())
            .collect();
        for vnet in &vnets {
            let name = vnet["name"].as_str().unwrap();
            let rg = vnet["id"].as_str().unwrap().split('/').nth(4).unwrap();
            let at = ResourcePath { subscription: SUB, resource_group: rg, resource_type: VNET_TYPE.into(), name };
            assert_eq!(*vnet, state.get_vnet(&at).unwrap().body.unwrap(), "{name}");
        }
        let app = &vnets[0];
        assert_eq!(app["tags"], json!({"env": "prod"}));
        let subnet = &app["properties"]["subnets"][0];
        assert_eq!(subnet["name"], "web");
        assert!(subnet["id"].as_str().unwrap().ends_with("/virtualNetworks/app-vnet/subnets/web"));
        assert_eq!(subnet["properties"]["addressPrefix"], "10.1.1.0/24");
        assert!(subnet["properties"]["networkSecurityGroup"]["id"].as_str().unwrap().ends_with("/new-nsg"));
        assert_eq!(vnets[1]["tags"], json!({"env": "dr", "flowlogs": "exempt"}));
        assert!(vnets[2].get("tags").is_none(), "no tags, no `tags`: {}", vnets[2]);
        assert!(vnets[2]["properties"]["flowLogs"].is_array(), "shared-vnet's flow log is referenced");

        let nics = list(&state, ListedType::Nics, None, None);
        assert_eq!(names(&nics), ["web-vm-nic"]);
        assert_eq!(nics["value"][0]["tags"], json!({"env": "prod", "role": "web"}));
        assert_eq!(nics["value"][0]["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"], "10.1.1.4");
        let nsgs = list(&state, ListedType::Nsgs, Some("app-prod-rg"), None);
        let web = &all_pages(&state, ListedType::Nsgs, Some("app-prod-rg"))[1]["value"][0];
        assert_eq!(names(&nsgs), ["db-nsg", "new-nsg"]);
        assert_eq!((web["name"].as_str(), &web["tags"]), (Some("web-nsg"), &json!({"env": "prod"})));
        assert!(nsgs["value"][0].get("tags").is_none());
    }

    #[test]
    fn resource_group_lists_hold_that_group_only_and_unknown_scopes_are_not_found() {
        let state = state(LroMode::Sync, 0);
        assert_eq!(names(&list(&state, ListedType::Vnets, Some("APP-PROD-RG"), None)), ["app-vnet"]);
        assert_eq!(names(&list(&state, ListedType::Nics, Some("app-prod-rg"), None)), ["web-vm-nic"]);
        assert_eq!(names(&list(&state, ListedType::Nics, Some("app-dr-rg"), None)), Vec::<&str>::new());
        let dr = all_pages(&state, ListedType::Nsgs, Some("app-dr-rg"));
        assert_eq!(dr.iter().flat_map(names).collect::<Vec<_>>(), ["batch-nsg", "web-dr-nsg"]);
        let rg = ctx("x");
        let e = state.list_resources(&rg, ListedType::Vnets, (SUB, Some("nope-rg")), None).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.error.message.as_str()),
            (404, "Resource group 'nope-rg' could not be found.")
        );
        assert_eq!(
            code(state.list_resources(&rg, ListedType::Nics, ("nope", None), None)),
            (404, "SubscriptionNotFound".into())
        );
        assert_eq!(
            code(state.list_resources(&rg, ListedType::Nsgs, ("nope", Some("app-prod-rg")), None)),
            (404, "SubscriptionNotFound".into())
        );
        // The second subscription's resources are not in the first's lists, and the other way round.
        let edge = state.list_resources(&rg, ListedType::Nsgs, (SECOND_SUBSCRIPTION_ID, None), None).unwrap();
        assert_eq!(names(&edge.body.unwrap()), ["edge-nsg"]);
    }

    #[test]
    fn same_names_in_two_groups_are_ordered_by_id_and_paging_survives_changes() {
        let mut state = state(LroMode::Sync, 0);
        let twin = VirtualNetwork {
            name: "App-Vnet".into(),
            resource_group: "aaa-rg".into(),
            location: "westeurope".into(),
            ..Default::default()
        };
        assert_eq!(state.put_resource(SUB, twin), Ok(Applied::Created));
        let first = list(&state, ListedType::Vnets, None, None);
        let ids: Vec<&str> = first["value"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect();
        assert!(ids[0].contains("/aaa-rg/") && ids[1].contains("/app-prod-rg/"), "{ids:?}");
        // A resource removed before the next page is read: the others all come, none twice.
        let token = url::Url::parse(first["nextLink"].as_str().unwrap()).unwrap();
        let token = token.query_pairs().find(|(k, _)| k == "$skipToken").unwrap().1.into_owned();
        state.remove_resource::<VirtualNetwork>(SUB, "aaa-rg", "app-vnet").unwrap();
        let second = list(&state, ListedType::Vnets, None, Some(&token));
        assert_eq!(names(&second), ["dr-vnet", "shared-vnet"]);
    }

    #[test]
    fn subscriptions_are_listed_with_their_display_names_and_tenant() {
        let mut state = state(LroMode::Sync, 0);
        let page = state.list_subscriptions(&ctx("subs"), None).body.unwrap();
        assert_eq!(
            page["value"][0],
            json!({
                "id": format!("/subscriptions/{SUB}"),
                "subscriptionId": SUB,
                "tenantId": DEFAULT_TENANT_ID,
                "displayName": "Production",
                "state": "Enabled",
                "subscriptionPolicies": {
                    "locationPlacementId": "Public_2014-09-01",
                    "quotaId": "PayAsYouGo_2014-09-01",
                    "spendingLimit": "Off",
                },
                "authorizationSource": "RoleBased",
                "managedByTenants": [],
            })
        );
        assert_eq!(page["value"][1]["displayName"], "Edge");
        assert!(page.get("nextLink").is_none());
        state.inventory.behaviour.page_size = 1;
        let first = state.list_subscriptions(&ctx("subs"), None).body.unwrap();
        assert_eq!(first["value"].as_array().unwrap().len(), 1);
        let next = first["nextLink"].as_str().unwrap();
        assert!(next.starts_with("http://sim/subscriptions?api-version=2025-07-01&$skipToken="), "{next}");
        let second = state.list_subscriptions(&ctx("subs"), Some(&format!("/subscriptions/{SUB}"))).body.unwrap();
        assert_eq!(second["value"][0]["subscriptionId"], SECOND_SUBSCRIPTION_ID);
        assert!(second.get("nextLink").is_none());
    }
}
