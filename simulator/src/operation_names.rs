//! The operation names: what the counters count and fault rules name, one per ARM operation, plus the token and
//! IMDS endpoints.

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
pub(super) const VIRTUAL_NETWORKS_LIST: &str = "virtualNetworksList";
pub(super) const VIRTUAL_NETWORKS_LIST_ALL: &str = "virtualNetworksListAll";
pub(super) const SUBNETS_GET: &str = "subnetsGet";
pub(super) const NETWORK_INTERFACES_GET: &str = "networkInterfacesGet";
pub(super) const NETWORK_INTERFACES_LIST: &str = "networkInterfacesList";
pub(super) const NETWORK_INTERFACES_LIST_ALL: &str = "networkInterfacesListAll";
pub(super) const SUBSCRIPTIONS_LIST: &str = "subscriptionsList";
pub(super) const WORKSPACES_GET: &str = "workspacesGet";
pub(super) const STORAGE_ACCOUNTS_GET: &str = "storageAccountsGet";
pub(super) const PROVIDERS_GET: &str = "providersGet";
pub(super) const PROVIDERS_REGISTER: &str = "providersRegister";
pub(super) const OPERATIONS: [&str; 29] = [
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
    VIRTUAL_NETWORKS_LIST,
    VIRTUAL_NETWORKS_LIST_ALL,
    SUBNETS_GET,
    NETWORK_INTERFACES_GET,
    NETWORK_INTERFACES_LIST,
    NETWORK_INTERFACES_LIST_ALL,
    SUBSCRIPTIONS_LIST,
    WORKSPACES_GET,
    STORAGE_ACCOUNTS_GET,
    PROVIDERS_GET,
    PROVIDERS_REGISTER,
];
/// The operations that start long-running operations (targets of `lro` faults).
pub(super) const LRO_OPERATIONS: [&str; 4] =
    [QUERY_FLOW_LOG_STATUS, CONFIGURE_FLOW_LOG, FLOW_LOGS_CREATE_OR_UPDATE, FLOW_LOGS_DELETE];
