//! The ARM routes the simulator implements, parsed from method and path (case-insensitively, as ARM matches them),
//! each with its operation name and subscription (none for the tenant-level `GET /subscriptions`).

use axum::http::Method;

use super::inventory::STORAGE_TYPE;
use super::operation_names as ops;
use super::request::WatcherRef;
use super::world::{NIC_TYPE, NSG_TYPE, ResourcePath, VNET_TYPE, WORKSPACE_TYPE};

/// The methods of `.../flowLogs/{name}`.
#[derive(Clone, Copy)]
pub(super) enum FlowLogMethod {
    Get,
    Put,
    Patch,
    Delete,
}

/// The resource types with paged lists per subscription (ListAll) and resource group (List).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ListedType {
    Nsgs,
    Vnets,
    Nics,
}

impl ListedType {
    /// The type's segment after `providers/Microsoft.Network/`.
    pub(super) fn segment(self) -> &'static str {
        match self {
            ListedType::Nsgs => "networkSecurityGroups",
            ListedType::Vnets => "virtualNetworks",
            ListedType::Nics => "networkInterfaces",
        }
    }

    /// The listed type a `Microsoft.Network` path segment names (case-insensitively).
    fn of(segment: &str) -> Option<ListedType> {
        [ListedType::Nsgs, ListedType::Vnets, ListedType::Nics]
            .into_iter()
            .find(|t| t.segment().eq_ignore_ascii_case(segment))
    }
}

/// The ARM routes the simulator implements, matched case-insensitively as ARM does.
pub(super) enum Route<'a> {
    /// `POST /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Network/networkWatchers/{nw}/{action}`
    Action {
        at: WatcherRef<'a>,
        configure: bool,
    },
    /// `GET /subscriptions/{s}/providers/Microsoft.Network/locations/{l}/{operations|operationResults}/{id}`
    Operation {
        subscription: &'a str,
        location: &'a str,
        id: &'a str,
        result: bool,
    },
    Watchers {
        subscription: &'a str,
        resource_group: Option<&'a str>,
    },
    Watcher(WatcherRef<'a>),
    FlowLogs(WatcherRef<'a>),
    FlowLog {
        at: WatcherRef<'a>,
        name: &'a str,
        method: FlowLogMethod,
    },
    /// `GET /subscriptions/{s}[/resourceGroups/{rg}]/providers/Microsoft.Network/{type}`: List and ListAll.
    List {
        listed: ListedType,
        subscription: &'a str,
        resource_group: Option<&'a str>,
    },
    /// `GET /subscriptions` (Subscriptions_List), tenant-level.
    Subscriptions,
    Nsg(ResourcePath<'a>),
    Vnet(ResourcePath<'a>),
    Subnet {
        at: ResourcePath<'a>,
        vnet: &'a str,
        subnet: &'a str,
    },
    Nic(ResourcePath<'a>),
    Workspace(ResourcePath<'a>),
    StorageAccount(ResourcePath<'a>),
    Provider {
        subscription: &'a str,
        namespace: &'a str,
        register: bool,
    },
}

impl<'a> Route<'a> {
    pub(super) fn parse(method: &Method, path: &'a str) -> Option<Route<'a>> {
        let s: Vec<&str> = path.trim_matches('/').split('/').collect();
        let is = |i: usize, literal: &str| s.get(i).is_some_and(|x| x.eq_ignore_ascii_case(literal));
        let get = *method == Method::GET;
        if get && s.len() == 1 && is(0, "subscriptions") {
            return Some(Route::Subscriptions);
        }
        if !is(0, "subscriptions") || s.len() < 4 {
            return None;
        }
        let sub = s[1];
        // /subscriptions/{s}/providers/...
        if is(2, "providers") {
            return match s.len() {
                4 if get => Some(Route::Provider { subscription: sub, namespace: s[3], register: false }),
                5 if *method == Method::POST && is(4, "register") => {
                    Some(Route::Provider { subscription: sub, namespace: s[3], register: true })
                }
                5 if get && is(3, "Microsoft.Network") && is(4, "networkWatchers") => {
                    Some(Route::Watchers { subscription: sub, resource_group: None })
                }
                5 if get && is(3, "Microsoft.Network") && ListedType::of(s[4]).is_some() => {
                    Some(Route::List { listed: ListedType::of(s[4])?, subscription: sub, resource_group: None })
                }
                8 if get
                    && is(3, "Microsoft.Network")
                    && is(4, "locations")
                    && (is(6, "operations") || is(6, "operationResults")) =>
                {
                    Some(Route::Operation {
                        subscription: sub,
                        location: s[5],
                        id: s[7],
                        result: is(6, "operationResults"),
                    })
                }
                _ => None,
            };
        }
        // /subscriptions/{s}/resourceGroups/{rg}/providers/{namespace}/{type}[/{name}[/...]]
        if s.len() < 7 || !is(2, "resourceGroups") || !is(4, "providers") {
            return None;
        }
        let rg = s[3];
        let path = |resource_type: &str, name: &'a str| ResourcePath {
            subscription: sub,
            resource_group: rg,
            resource_type: resource_type.into(),
            name,
        };
        let watcher = |name: &'a str| WatcherRef { subscription: sub, resource_group: rg, name };
        if is(5, "Microsoft.OperationalInsights") {
            return (get && s.len() == 8 && is(6, "workspaces")).then(|| Route::Workspace(path(WORKSPACE_TYPE, s[7])));
        }
        if is(5, "Microsoft.Storage") {
            return (get && s.len() == 8 && is(6, "storageAccounts"))
                .then(|| Route::StorageAccount(path(STORAGE_TYPE, s[7])));
        }
        if !is(5, "Microsoft.Network") {
            return None;
        }
        match s.len() {
            7 if get && is(6, "networkWatchers") => {
                Some(Route::Watchers { subscription: sub, resource_group: Some(rg) })
            }
            7 if get && ListedType::of(s[6]).is_some() => {
                Some(Route::List { listed: ListedType::of(s[6])?, subscription: sub, resource_group: Some(rg) })
            }
            8 if get && is(6, "networkWatchers") => Some(Route::Watcher(watcher(s[7]))),
            8 if get && is(6, "networkSecurityGroups") => Some(Route::Nsg(path(NSG_TYPE, s[7]))),
            8 if get && is(6, "virtualNetworks") => Some(Route::Vnet(path(VNET_TYPE, s[7]))),
            8 if get && is(6, "networkInterfaces") => Some(Route::Nic(path(NIC_TYPE, s[7]))),
            9 if *method == Method::POST
                && is(6, "networkWatchers")
                && (is(8, "configureFlowLog") || is(8, "queryFlowLogStatus")) =>
            {
                Some(Route::Action { at: watcher(s[7]), configure: is(8, "configureFlowLog") })
            }
            9 if get && is(6, "networkWatchers") && is(8, "flowLogs") => Some(Route::FlowLogs(watcher(s[7]))),
            10 if is(6, "networkWatchers") && is(8, "flowLogs") => {
                let method = match *method {
                    Method::GET => FlowLogMethod::Get,
                    Method::PUT => FlowLogMethod::Put,
                    Method::PATCH => FlowLogMethod::Patch,
                    Method::DELETE => FlowLogMethod::Delete,
                    _ => return None,
                };
                Some(Route::FlowLog { at: watcher(s[7]), name: s[9], method })
            }
            10 if get && is(6, "virtualNetworks") && is(8, "subnets") => Some(Route::Subnet {
                at: path(&format!("{VNET_TYPE}/{}/subnets", s[7]), s[9]),
                vnet: s[7],
                subnet: s[9],
            }),
            _ => None,
        }
    }

    pub(super) fn operation(&self) -> &'static str {
        match self {
            Route::Action { configure: true, .. } => ops::CONFIGURE_FLOW_LOG,
            Route::Action { configure: false, .. } => ops::QUERY_FLOW_LOG_STATUS,
            Route::Operation { result: false, .. } => ops::OPERATION_STATUS,
            Route::Operation { result: true, .. } => ops::OPERATION_RESULT,
            Route::Watchers { resource_group: Some(_), .. } => ops::NETWORK_WATCHERS_LIST,
            Route::Watchers { resource_group: None, .. } => ops::NETWORK_WATCHERS_LIST_ALL,
            Route::Watcher(_) => ops::NETWORK_WATCHERS_GET,
            Route::FlowLogs(_) => ops::FLOW_LOGS_LIST,
            Route::FlowLog { method: FlowLogMethod::Get, .. } => ops::FLOW_LOGS_GET,
            Route::FlowLog { method: FlowLogMethod::Put, .. } => ops::FLOW_LOGS_CREATE_OR_UPDATE,
            Route::FlowLog { method: FlowLogMethod::Patch, .. } => ops::FLOW_LOGS_UPDATE_TAGS,
            Route::FlowLog { method: FlowLogMethod::Delete, .. } => ops::FLOW_LOGS_DELETE,
            Route::List { listed, resource_group, .. } => match (listed, resource_group.is_some()) {
                (ListedType::Nsgs, true) => ops::NSGS_LIST,
                (ListedType::Nsgs, false) => ops::NSGS_LIST_ALL,
                (ListedType::Vnets, true) => ops::VIRTUAL_NETWORKS_LIST,
                (ListedType::Vnets, false) => ops::VIRTUAL_NETWORKS_LIST_ALL,
                (ListedType::Nics, true) => ops::NETWORK_INTERFACES_LIST,
                (ListedType::Nics, false) => ops::NETWORK_INTERFACES_LIST_ALL,
            },
            Route::Subscriptions => ops::SUBSCRIPTIONS_LIST,
            Route::Nsg(_) => ops::NSGS_GET,
            Route::Vnet(_) => ops::VIRTUAL_NETWORKS_GET,
            Route::Subnet { .. } => ops::SUBNETS_GET,
            Route::Nic(_) => ops::NETWORK_INTERFACES_GET,
            Route::Workspace(_) => ops::WORKSPACES_GET,
            Route::StorageAccount(_) => ops::STORAGE_ACCOUNTS_GET,
            Route::Provider { register: false, .. } => ops::PROVIDERS_GET,
            Route::Provider { register: true, .. } => ops::PROVIDERS_REGISTER,
        }
    }

    /// The subscription the path names; none for tenant-level routes (`GET /subscriptions`).
    pub(super) fn subscription(&self) -> Option<&'a str> {
        Some(match self {
            Route::Action { at, .. } | Route::Watcher(at) | Route::FlowLogs(at) | Route::FlowLog { at, .. } => {
                at.subscription
            }
            Route::Nsg(p)
            | Route::Vnet(p)
            | Route::Nic(p)
            | Route::Workspace(p)
            | Route::StorageAccount(p)
            | Route::Subnet { at: p, .. } => p.subscription,
            Route::Operation { subscription, .. }
            | Route::Watchers { subscription, .. }
            | Route::List { subscription, .. }
            | Route::Provider { subscription, .. } => subscription,
            Route::Subscriptions => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_case_insensitively() {
        let path = "/SUBSCRIPTIONS/s/resourcegroups/rg/PROVIDERS/microsoft.network/NetworkWatchers/nw/configureflowlog";
        let Some(Route::Action { at, configure: true }) = Route::parse(&Method::POST, path) else { panic!("no match") };
        assert_eq!((at.subscription, at.resource_group, at.name), ("s", "rg", "nw"));
        let path = "/subscriptions/s/providers/Microsoft.Network/locations/westeurope/operationresults/id";
        assert!(matches!(Route::parse(&Method::GET, path), Some(Route::Operation { result: true, id: "id", .. })));
        let rg = "/subscriptions/s/resourceGroups/rg/providers";
        for (method, path, operation) in [
            (Method::GET, "/subscriptions/s/providers/Microsoft.Insights".to_string(), ops::PROVIDERS_GET),
            (Method::POST, "/subscriptions/s/providers/microsoft.insights/REGISTER".into(), ops::PROVIDERS_REGISTER),
            (
                Method::GET,
                "/subscriptions/s/providers/Microsoft.Network/networkWatchers".into(),
                ops::NETWORK_WATCHERS_LIST_ALL,
            ),
            (Method::GET, format!("{rg}/Microsoft.Network/networkWatchers"), ops::NETWORK_WATCHERS_LIST),
            (Method::GET, format!("{rg}/Microsoft.Network/networkWatchers/nw"), ops::NETWORK_WATCHERS_GET),
            (
                Method::GET,
                "/subscriptions/s/providers/Microsoft.Network/networkSecurityGroups".into(),
                ops::NSGS_LIST_ALL,
            ),
            (Method::GET, format!("{rg}/Microsoft.Network/networkSecurityGroups"), ops::NSGS_LIST),
            (Method::GET, format!("{rg}/Microsoft.Network/networkSecurityGroups/n"), ops::NSGS_GET),
            (
                Method::GET,
                "/subscriptions/s/PROVIDERS/microsoft.network/VIRTUALNETWORKS".into(),
                ops::VIRTUAL_NETWORKS_LIST_ALL,
            ),
            (Method::GET, format!("{rg}/Microsoft.Network/virtualnetworks"), ops::VIRTUAL_NETWORKS_LIST),
            (
                Method::GET,
                "/subscriptions/s/providers/Microsoft.Network/networkInterfaces".into(),
                ops::NETWORK_INTERFACES_LIST_ALL,
            ),
            (Method::GET, format!("{rg}/Microsoft.Network/NetworkInterfaces"), ops::NETWORK_INTERFACES_LIST),
            (Method::GET, format!("{rg}/Microsoft.Network/virtualNetworks/v"), ops::VIRTUAL_NETWORKS_GET),
            (Method::GET, format!("{rg}/Microsoft.Network/virtualNetworks/v/subnets/s"), ops::SUBNETS_GET),
            (Method::GET, format!("{rg}/Microsoft.Network/networkInterfaces/n"), ops::NETWORK_INTERFACES_GET),
            (Method::GET, format!("{rg}/Microsoft.OperationalInsights/workspaces/w"), ops::WORKSPACES_GET),
            (Method::GET, format!("{rg}/microsoft.storage/STORAGEACCOUNTS/st"), ops::STORAGE_ACCOUNTS_GET),
            (Method::GET, format!("{rg}/Microsoft.Network/networkWatchers/nw/flowLogs"), ops::FLOW_LOGS_LIST),
            (Method::GET, format!("{rg}/Microsoft.Network/networkWatchers/nw/FlowLogs/f"), ops::FLOW_LOGS_GET),
            (
                Method::PUT,
                format!("{rg}/Microsoft.Network/networkWatchers/nw/flowLogs/f"),
                ops::FLOW_LOGS_CREATE_OR_UPDATE,
            ),
            (
                Method::PATCH,
                format!("{rg}/Microsoft.Network/networkWatchers/nw/flowLogs/f"),
                ops::FLOW_LOGS_UPDATE_TAGS,
            ),
            (Method::DELETE, format!("{rg}/Microsoft.Network/networkWatchers/nw/flowLogs/f"), ops::FLOW_LOGS_DELETE),
        ] {
            let route = Route::parse(&method, &path).unwrap_or_else(|| panic!("{method} {path} does not match"));
            assert_eq!(route.operation(), operation, "{method} {path}");
            assert_eq!(route.subscription(), Some("s"));
        }
        for path in ["/subscriptions", "/SUBSCRIPTIONS/"] {
            let route = Route::parse(&Method::GET, path).unwrap_or_else(|| panic!("GET {path} does not match"));
            assert_eq!((route.operation(), route.subscription()), (ops::SUBSCRIPTIONS_LIST, None));
        }
        for (method, path) in [
            (Method::GET, format!("{rg}/Microsoft.Network/networkWatchers/nw/configureFlowLog")),
            (Method::POST, format!("{rg}/Microsoft.Network/networkWatchers/nw/other")),
            (Method::POST, format!("{rg}/Microsoft.Compute/networkWatchers/nw/queryFlowLogStatus")),
            (Method::POST, format!("{rg}/Microsoft.Network/networkWatchers/nw/flowLogs/f")),
            (Method::DELETE, format!("{rg}/Microsoft.Network/networkSecurityGroups/n")),
            (Method::POST, "/subscriptions".into()),
            (Method::PUT, format!("{rg}/Microsoft.Network/virtualNetworks")),
            (Method::GET, format!("{rg}/Microsoft.Compute/virtualNetworks")),
            (Method::PUT, format!("{rg}/Microsoft.Storage/storageAccounts/st")),
            (Method::GET, format!("{rg}/Microsoft.Storage/storageAccounts")),
            (Method::GET, format!("{rg}/Microsoft.Storage/storageAccounts/st/blobServices")),
            (
                Method::GET,
                format!("{rg}/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/0/networkInterfaces/n"),
            ),
            (Method::GET, "/subscriptions/s/providers/Microsoft.Network/subnets".into()),
            (Method::GET, "/subscriptions/s/providers/Microsoft.Network/locations/l/operations".into()),
            (Method::GET, "/subscriptions/s".into()),
            (Method::GET, "/".into()),
        ] {
            assert!(Route::parse(&method, &path).is_none(), "{method} {path}");
        }
    }
}
