//! ARM-faithful Network Watcher simulator: an HTTP server that answers like Entra ID, the instance metadata service
//! (IMDS) and Azure Resource Manager for everything the operator uses — the legacy flow-log actions
//! (`configureFlowLog`, `queryFlowLogStatus`), the `flowLogs` resource, the network watchers, NSGs, virtual networks,
//! subnets, NICs (read alone or listed; scale sets' NICs as their subnets and NSGs show them), storage accounts and
//! Log Analytics workspaces around it, resource-provider registration and the subscriptions list — following the
//! published specs (`networkWatcher.json`, 2025-07-01, `virtualNetwork.json`, `networkInterface.json`,
//! `subscriptions.json`), their official examples and the facts in `shared/notes/azure-api.md`. One base URL serves
//! all of them, so the operator points its authority host, IMDS endpoint and ARM endpoint at it. Tests can add and
//! remove virtual networks, NICs and NSGs while it runs.
//!
//! # Routes
//!
//! Tokens:
//! - `POST /{tenant}/oauth2/v2.0/token`: client-credentials grant (`grant_type=client_credentials`, `client_id`,
//!   `scope` = `{resource}/.default`) with either `client_secret`, or `client_assertion_type=urn:ietf:params:oauth:
//!   client-assertion-type:jwt-bearer` and `client_assertion=<JWT>` (workload identity). The assertion must be a
//!   three-part JWT whose payload has `iss` and `sub` matching a federated credential of the principal, `aud`
//!   containing `api://AzureADTokenExchange`, `exp` in the future and `nbf` (if present) in the past. **Signatures
//!   are not verified**: the simulator has no issuer keys. Tokens live `tokenLifetimeSeconds` (3599). Errors carry
//!   Entra ID's codes: AADSTS90002 (unknown tenant), 900144 (missing parameter), 70003 (grant type), 700016 (unknown
//!   client), 70011 (scope), 7000218 (no secret or assertion), 7000215 (wrong secret), 90014 (assertion type missing
//!   or not jwt-bearer), 50027 (not a JWT, or `iss`/`sub`/`aud`/`exp` missing), 70021 (no matching federated
//!   credential, including a wrong audience), 700024 (assertion expired or not yet valid).
//! - `GET /metadata/identity/oauth2/token?api-version=…&resource=…[&client_id=…|&object_id=…|&mi_res_id=…]`: IMDS.
//!   Needs the header `Metadata: true` (400 `bad_request_102` "Required metadata header not specified"). Without a
//!   selector it serves the first managed identity of the inventory; an unknown one is 400 `invalid_request`
//!   "Identity not found"; a missing `api-version` or `resource`, or two selectors, are 400 `invalid_request` with
//!   IMDS's documented description. Success: every value a string (`access_token`, `refresh_token: ""`,
//!   `expires_in`, `expires_on`, `not_before`, `resource`, `token_type: "Bearer"`). IMDS's transient answers (429,
//!   500, 503, …) come from fault rules on `imds`.
//!
//! ARM (prefix `/subscriptions/{sub}` but for the first; names and path literals are matched case-insensitively):
//! - `GET /subscriptions` (Subscriptions_List, tenant-level, any api-version such as 2022-12-01): every subscription
//!   of the inventory, `{id: "/subscriptions/{id}", subscriptionId, tenantId, displayName, state: "Enabled",
//!   subscriptionPolicies, authorizationSource: "RoleBased", managedByTenants: []}` as the spec's example shows, paged
//!   (below) by ID. `tenantId`: the inventory's first service principal's tenant (else [`DEFAULT_TENANT_ID`]);
//!   `displayName`: the inventory's `displayName`, else the ID.
//! - `POST /resourceGroups/{rg}/providers/Microsoft.Network/networkWatchers/{nw}/configureFlowLog` and
//!   `.../queryFlowLogStatus`: long-running. `async` mode: 202 with the `FlowLogInformation` body (as the official
//!   example does) and `Location`, `Azure-AsyncOperation`, `Retry-After`; `sync` mode: 200 with the body.
//! - `GET|PUT|PATCH|DELETE .../networkWatchers/{nw}/flowLogs/{name}` and `GET .../networkWatchers/{nw}/flowLogs`:
//!   the `flowLogs` resource (below). Any api-version from 2019-07-01 on (400 `NoRegisteredProviderFound` before).
//! - `GET /providers/Microsoft.Network/locations/{region}/operations/{id}`: always 200,
//!   `{"status":"InProgress"|"Succeeded"|"Failed"|"Canceled"}` (+ `error` when failed or canceled, + `Retry-After`
//!   while in progress). `.../operationResults/{id}`: 202 with `Location` and `Retry-After` while in progress, then
//!   what the synchronous call would have answered: 200 with the `FlowLogInformation` or `FlowLog`, 204 after a
//!   delete, or the operation's error with its HTTP status.
//! - `GET /providers/Microsoft.Network/networkWatchers` (ListAll), `GET /resourceGroups/{rg}/providers/
//!   Microsoft.Network/networkWatchers` (List), `GET .../networkWatchers/{nw}` (Get): one page, `value` only, as the
//!   examples show; `{name, id, etag, type, location, tags, properties: {provisioningState}}`.
//! - `GET .../networkSecurityGroups/{nsg}`: with `resourceGuid`, `securityRules`, Azure's six `defaultSecurityRules`
//!   and, each only when there is one, `tags` and the read-only references `networkInterfaces: [{"id"}]` and
//!   `subnets: [{"id"}]` (where the NSG is attached) and `flowLogs: [{"id"}]` (the flow logs targeting it). No
//!   `etag`, as in the examples.
//! - `GET .../virtualNetworks/{vnet}` (`addressSpace`, `subnets` each `{id, name, properties}`,
//!   `virtualNetworkPeerings: []`, `resourceGuid`, `flowLogs` when any, `tags` when any),
//!   `GET .../virtualNetworks/{vnet}/subnets/{subnet}` (`addressPrefix`, `ipConfigurations` of the NICs in it),
//!   `GET .../networkInterfaces/{nic}` (`ipConfigurations[0]` with `subnet` and `privateIPAddress`, `tags` when any)
//!   — a subnet (also inside its VNet) and a NIC with an NSG attached carry `networkSecurityGroup: {"id"}` —,
//!   `GET .../providers/Microsoft.OperationalInsights/workspaces/{name}` (`customerId`),
//!   `GET .../providers/Microsoft.Storage/storageAccounts/{name}` (Microsoft.Storage's shape, any api-version such as
//!   the operator's 2023-05-01: `{id, name, type, location, kind: "StorageV2", sku: {name: "Standard_LRS", tier:
//!   "Standard"}, properties: {provisioningState, primaryLocation, statusOfPrimary, primaryEndpoints, …}}`).
//! - Scale sets' NICs (`.../Microsoft.Compute/virtualMachineScaleSets/{vmss}/virtualMachines/{i}/networkInterfaces/
//!   {vmss}-nic`, one per instance) show as Azure shows them: in their subnet's `ipConfigurations`
//!   (`{nic}/ipConfigurations/{vmss}-ipconfig`, also inside the VNet) and, with an NSG, in its `networkInterfaces`;
//!   not in the `networkInterfaces` lists (Azure lists them per scale set), not readable alone, not flow-log targets
//!   (a write naming one fails the target check, 400 `InvalidResourceReference`).
//! - `GET /providers/Microsoft.Network/{networkSecurityGroups|virtualNetworks|networkInterfaces}` (ListAll) and
//!   `GET /resourceGroups/{rg}/providers/Microsoft.Network/{…}` (List): each resource as its GET answers it, paged.
//! - `GET /providers/{namespace}` → `{id, namespace, registrationState}`; `POST /providers/{namespace}/register` →
//!   200 `Registering`, then `Registered` after `providerRegistrationReads` further reads. Unknown namespace: 404
//!   `InvalidResourceNamespace`.
//!
//! Every ARM route needs `?api-version=` (400 `MissingApiVersionParameter`) and a bearer token the simulator issued
//! for an ARM audience (`armAudiences`): 401 `AuthenticationFailed` (no header),
//! `AuthenticationFailedInvalidHeader`, `InvalidAuthenticationToken` (not issued), `ExpiredAuthenticationToken`
//! ("The access token expiry UTC time '…' is earlier than current UTC time '…'."),
//! `InvalidAuthenticationTokenAudience` (issued for another resource), each with a `WWW-Authenticate` challenge.
//! Subscription IDs are any string (the examples use `subid`). Every ARM answer has `x-ms-request-id` (a long-running
//! operation's ID), `x-ms-correlation-request-id` (echoed or generated), `x-ms-ratelimit-remaining-subscription-
//! reads|writes|deletes` (GET | PUT/POST/PATCH | DELETE: the tokens left in the caller's bucket;
//! `x-ms-ratelimit-remaining-tenant-reads` for `GET /subscriptions`) and
//! `Content-Type: application/json; charset=utf-8`. Errors are `{"error":{"code","message","details":[]}}`; unknown
//! resources are 404 `SubscriptionNotFound`, `ResourceGroupNotFound` ("Resource group '{rg}' could not be found.")
//! or `ResourceNotFound` ("The Resource '{type}/{name}' under resource group '{rg}' was not found. For more details
//! please go to <https://aka.ms/ARMResourceNotFoundFix>").
//!
//! Flow-log delivery (with [`Simulator::set_storage_endpoint`], `flowlog-sim --storage-endpoint`): enabled flow logs'
//! `PT1H.json` blobs written into a Blob service (Azurite in the tests) in Network Watcher's layout and block
//! pattern, with seeded records, when [`Simulator::deliver`] (or `POST /_sim/delivery/deliver`) asks; paused per
//! storage account or flow log ([`Simulator::pause_delivery`], `PUT /_sim/delivery`). See the README.
//!
//! # Behaviour
//!
//! - **One store.** Every flow log is a `flowLogs` resource held by a watcher; `configureFlowLog` and
//!   `queryFlowLogStatus` read and write the one targeting the NSG, and a flow log `configureFlowLog` creates is named
//!   `Microsoft.Network{nsgResourceGroup}{nsgName}`, as Azure names it. A change through either API shows through
//!   the other, in NSG and VNet reads, and in [`Simulator::flow_log_status`] / [`Simulator::flow_log_resources`].
//! - **Long-running operations.** A change is applied when the request is accepted; its operation then stays
//!   `InProgress` for `durationMs` (1000) of wall-clock time, polled or not, and is then done: its end (success; a
//!   failure or cancel that restores the flow log; the removal after a delete) takes effect at that moment, applied
//!   before the next request reads the state, so every read after the deadline sees it and an operation nobody polls
//!   ends all the same. Polls do not move it on; `InProgress` answers carry `Retry-After: retryAfterSeconds`. With
//!   `inProgressPolls` set, operations are poll-counted instead (deterministic, for unit tests): each poll of either
//!   URL, or GET of the flow log whose operation is in flight, moves one step on. While in flight the flow log's
//!   `provisioningState` is `Updating` (`Deleting` for a delete), else `Succeeded`. An operation a fault ends
//!   `Failed`/`Canceled` restores the flow log as it was before the request (a failed create leaves none). A finished
//!   operation's URLs answer for 15 minutes after it ended, then 404 `OperationNotFound`. In `sync` mode answers are
//!   final at once (200/201; 204 for a delete).
//! - **configureFlowLog** replaces the whole configuration of the NSG's flow log (storage, enabled, retention, format,
//!   `recordTypes`, `enabledFilteringCriteria`, traffic analytics beside `properties`, identity). It may modify,
//!   enable or disable a flow log that exists; `enabled: true` on an NSG without one is 400
//!   `NsgFlowLogCreationBlocked` (quirk); `enabled: false` there succeeds and creates nothing.
//! - **flowLogs PUT** (201 create / 200 update, `Azure-AsyncOperation` + `Retry-After`, body with `provisioningState:
//!   "Updating"`) needs `location` (400 `LocationRequired`, ARM's code), `properties.targetResourceId` and
//!   `properties.storageId`. The target may be an NSG, virtual network, subnet or NIC; Azure allows one flow log per
//!   target, and a flow log's target cannot change. Answers spell `.../FlowLogs/{name}` and type
//!   `Microsoft.Network/networkWatchers/FlowLogs`, always carry `retentionPolicy` and `targetResourceGuid`, and show
//!   `flowAnalyticsConfiguration` as `{}` when never set and with `workspaceId`/`workspaceRegion` `"-"` when
//!   disabled. `PATCH` replaces `tags` synchronously (200). `DELETE`: 202 with `Location`, `Azure-AsyncOperation`
//!   and `Retry-After` (the `Location` then answers 202, then 204); 204 when there is no such flow log; 400
//!   `SubnetNotFoundForFlowLog` ("Subnet resource {id} passed for the flow log does not exist.", Azure/azure-cli#31506;
//!   the status is assumed) when the flow log targets a subnet that is gone. `GET` of a missing flow log: 404
//!   `ResourceNotFound`. Lists come in pages (below).
//! - **Paged lists** (flow logs, NSGs, virtual networks, NICs, subscriptions): pages of `pageSize`, ordered by name
//!   (the ID's last segment), then ID, case-insensitively; `nextLink` (absolute, on the address the client used, with
//!   its api-version) carries `$skipToken`, the lower-cased ID of the page's last item, and the next page starts
//!   after it, so resources added or removed between pages neither repeat nor hide others; the last page has no
//!   `nextLink`.
//! - **Resources at run time** (admin API, [`Simulator::put_virtual_network`] and its siblings): virtual networks,
//!   NICs and NSGs are added, replaced (same name and resource group; the stored casing stays) and removed, each
//!   change validated whole like the inventory before anything changes. Removing an NSG attached to a subnet, NIC or
//!   scale set, or a virtual network whose subnets hold NICs or scale sets, is refused (as Azure refuses to delete
//!   what is in use); removing a virtual network removes its subnets; resource groups stay. Flow logs of a removed
//!   target stay (a flow log is the watcher's child; Azure keeps it): read, listed and deleted as usual (but for one
//!   whose subnet is gone: `SubnetNotFoundForFlowLog`); writes to it fail the target check.
//! - **Checks**, in order: subscription, resource group, watcher (404s); api-version (flowLogs); body (400
//!   `InvalidRequestFormat`, `LocationRequired`); flow-log location = watcher's; target exists (400
//!   `InvalidResourceReference` with Azure's message and a `NotFound` detail; legacy actions: NSGs only); watcher in
//!   the target's region; target unchanged, one flow log per target (flowLogs); no write in flight on the target (409
//!   `AnotherOperationInProgress` with the operation's status URL, quirk); creation blocked (quirk); retention days
//!   0..=365; format `JSON` version 1 or 2; `recordTypes` a comma list of `B`, `C`, `E`, `D`; when enabled, the
//!   storage account exists and is in the target's region; traffic analytics: interval 10 or 60, and when enabled the
//!   workspace exists, `workspaceRegion` (if given) is its region and it is in the flow log's region (400
//!   `InvalidTAWorkspaceRegion`: "The specified region {region} for workspace is invalid. Workspace {id} located in
//!   {location} region."), `workspaceId` (if given) is its GUID; the answer fills in GUID, region and ID; and when
//!   enabling, `Microsoft.Insights` is registered in the watcher's subscription (409
//!   `MissingSubscriptionRegistration`, ARM's code and text for an unregistered namespace — an assumption: Azure's
//!   docs only say flow logs fail then).
//! - **Identities.** User-assigned identities are echoed with `clientId`/`principalId`: those of the inventory's
//!   managed identity with that `resourceId`, else GUIDs derived from the identity's ID (stable across answers).
//! - **Quirks** (`behaviour.quirks`, all on by default): `upperCaseResourceGroups` — `targetResourceId`s and flow-log
//!   IDs (also in NSG/VNet `flowLogs`) answer with the resource group upper-cased (`/resourceGroups/NETWORKWATCHERRG/
//!   ...`) while the inventory's casing is stored and other IDs keep it; `disabledFlowLogDefaults` — a disabled flow
//!   log reports `storageId: ""` and `retentionPolicy: {"days":0,"enabled":false}`; `anotherOperationInProgress`;
//!   `nsgFlowLogCreationBlocked`. Assumption: an NSG without flow log is reported by `queryFlowLogStatus` like a
//!   disabled one.
//! - **Throttling** (`behaviour.throttling`): ARM's token buckets per subscription, principal (the token's client ID)
//!   and kind — reads 250 tokens refilled at 25/s, writes and deletes 200 at 10/s by default, in real time. An empty
//!   bucket answers 429 `SubscriptionRequestsThrottled` ("Number of 'read' requests for subscription '{sub}' actor
//!   '{client id}' exceeded. Please try again after '{n}' seconds after the additional tokens are available. Refer
//!   to <https://aka.ms/arm-throttling>") with `Retry-After: {n}` (seconds until a token is back, at least 1).
//!   `GET /subscriptions` names no subscription: like ARM's tenant-level requests it spends a bucket of the tenant
//!   (the one its answer names), principal and kind, with the same limits; empty: 429 `TenantRequestsThrottled`.
//!
//! # Faults
//!
//! Rules (admin API or `behaviour.faults`), JSON or YAML; the first rule that fires on a call decides:
//!
//! ```json
//! [
//!   {"operation": "configureFlowLog", "count": 2,
//!    "effect": {"error": {"status": 429, "code": "TooManyRequests", "message": "…", "retryAfterSeconds": 3}}},
//!   {"operation": "*", "rate": 0.1, "seed": 7, "effect": {"latencyMs": 500}},
//!   {"operation": "imds", "count": 1, "effect": "drop"},
//!   {"operation": "flowLogsCreateOrUpdate", "count": 1,
//!    "effect": {"lro": {"durationMs": 5000, "end": "Failed", "code": "InternalServerError",
//!                       "message": "An error occurred.", "status": 500}}}
//! ]
//! ```
//!
//! `operation` is a counter name or `*` (every operation, token and IMDS included). `count` fires on the next N
//! matching calls (and counts down); `rate` (0..=1) on that fraction, drawn from an RNG seeded with `seed` (default 0),
//! one per rule, so a run repeats exactly; neither: every matching call. Effects: `error` answers the status
//! (400..=599) with the endpoint's error shape (ARM `{"error":{code,message,details}}`, Entra `{error,
//! error_description,error_codes,…}`, IMDS `{error,error_description}`) and `Retry-After` if given; `latencyMs`
//! serves the call after that delay; `drop` closes the connection without an answer (served through
//! [`Simulator::serve`] / [`Simulator::spawn_local`]; a router served otherwise breaks off the body instead); `lro`
//! (only `configureFlowLog`, `queryFlowLogStatus`, `flowLogsCreateOrUpdate`, `flowLogsDelete`; needs
//! `inProgressPolls`, `durationMs` or `end`) accepts the operation normally, keeps it in progress for `durationMs`
//! (wall clock) or `inProgressPolls` polls (poll-counted; not both; either decides for this operation whatever
//! `behaviour.lro` says) and/or ends it `Failed` or `Canceled` with that error (defaults `InternalServerError`, "An
//! error occurred.", HTTP 500 on the `Location` URL); in `sync` mode such a failure is the request's answer and
//! nothing changes. Calls a fault answers are counted.
//!
//! # Admin API
//!
//! Under `/_sim/`, without bearer token, not counted:
//! - `GET /_sim/counters`: JSON map from operation to the number of requests received, failed ones included.
//!   Operations: `token`, `imds`, `queryFlowLogStatus`, `configureFlowLog`, `operationStatus`, `operationResult`,
//!   `flowLogsCreateOrUpdate`, `flowLogsGet`, `flowLogsList`, `flowLogsUpdateTags`, `flowLogsDelete`,
//!   `networkWatchersGet`, `networkWatchersList`, `networkWatchersListAll`, `networkSecurityGroupsGet`,
//!   `networkSecurityGroupsList`, `networkSecurityGroupsListAll`, `virtualNetworksGet`, `virtualNetworksList`,
//!   `virtualNetworksListAll`, `subnetsGet`, `networkInterfacesGet`, `networkInterfacesList`,
//!   `networkInterfacesListAll`, `subscriptionsList`, `workspacesGet`, `storageAccountsGet`, `providersGet`,
//!   `providersRegister`;
//! - `POST /_sim/counters/reset`: sets them to 0 (204);
//! - `GET /_sim/flowLogs`: JSON list with every NSG's status, as `queryFlowLogStatus` would answer;
//! - `PUT /_sim/flowLogs` with a `FlowLogInformation`: drift — replaces (or creates) the NSG's flow log without the
//!   API's checks; 200 with the new status, 400 with a text message if the body or the NSG is wrong;
//! - `GET /_sim/flowLogResources`: JSON list of every `flowLogs` resource, as GET answers it;
//! - `PUT /_sim/flowLogResources` with a `FlowLog` whose `id` names watcher and flow log: drift of any flow log
//!   (target must exist, one per target); 200 with the stored resource, 400 with a text message;
//! - `GET /_sim/faults` (the rules, counts as they stand), `PUT /_sim/faults` (replaces the list; 200 with it, 400 and
//!   a message naming the bad rule), `DELETE /_sim/faults` (204);
//! - `GET /_sim/throttling`: `{"config": {…}, "buckets": [{subscription|tenant, actor, kind, remaining}]}`;
//!   `PUT /_sim/throttling` with a `throttling` config (replaces it, all buckets full again);
//!   `POST /_sim/throttling/reset` (all buckets full, 204);
//! - `GET /_sim/inventory`: the inventory the simulator started with, as YAML;
//! - `PUT /_sim/virtualNetworks`, `PUT /_sim/networkInterfaces`, `PUT /_sim/networkSecurityGroups` with the resource
//!   as the inventory describes it (JSON) plus `"subscription"`: adds it (201) or replaces it (200), answering it as
//!   its GET does; 400 with a text message (every problem) when the body or the change is wrong, and nothing changes.
//!   An NSG cannot bring a `flowLog`;
//! - `DELETE /_sim/{virtualNetworks|networkInterfaces|networkSecurityGroups}/{subscription}/{resourceGroup}/{name}`:
//!   204; 404 when there is no such resource; 400 when something still uses it.
//!
//! # Inventory
//!
//! YAML (or JSON), camelCase, unknown fields refused, every problem reported; [`Inventory::builtin`] is the default.
//! A resource group exists when some resource of the inventory (or a managed identity's `resourceId`) is in it. Tags
//! (watchers, NSGs, virtual networks, NICs, flow logs) follow ARM's limits: at most 50; names of 1 to 512 characters
//! without `<>%&\?/`, unique case-insensitively; values of at most 256 characters.
//!
//! ```yaml
//! servicePrincipals:            # who may get tokens from /{tenant}/oauth2/v2.0/token
//!   - tenantId: 11111111-1111-1111-1111-111111111111
//!     clientId: 22222222-2222-2222-2222-222222222222
//!     clientSecret: simulator-secret          # optional when federatedCredentials are given
//!     federatedCredentials:                   # workload identity: trusted issuer and subject
//!       - { issuer: "https://kubernetes.default.svc.cluster.local",
//!           subject: "system:serviceaccount:flowlog-system:flowlog-operator" }
//! managedIdentities:            # IMDS identities; the first is the default
//!   - clientId: 33333333-3333-3333-3333-333333333333
//!     principalId: 44444444-4444-4444-4444-444444444443
//!     resourceId: /subscriptions/…/resourceGroups/platform-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/flowlog-operator
//! subscriptions:
//!   - id: 00000000-0000-0000-0000-000000000001
//!     displayName: Production                # optional; GET /subscriptions's displayName (default: the ID)
//!     locations: [westeurope, northeurope]   # every resource must be in one of these
//!     registeredProviders: [Microsoft.Network, Microsoft.Insights]   # the default; others are NotRegistered
//!     networkWatchers:                       # at most one per location
//!       - name: NetworkWatcher_westeurope
//!         resourceGroup: NetworkWatcherRG
//!         location: westeurope
//!         tags: {}                           # optional
//!         flowLogs:                          # optional: flowLogs resources that exist (any target)
//!           - name: shared-vnet-flowlog
//!             targetResourceId: /subscriptions/…/resourceGroups/shared-net-rg/providers/Microsoft.Network/virtualNetworks/shared-vnet
//!             enabled: true
//!             storageAccount: flowlogsweu001 # a storage account's name or ARM ID; required when enabled
//!             retentionPolicy: { enabled: true, days: 30 }   # optional, days 0..=365
//!             format: { type: JSON, version: 2 }             # optional, version 1 or 2
//!             recordTypes: "B,C,E,D"                         # optional
//!             enabledFilteringCriteria: "dstPort=443"        # optional
//!             trafficAnalytics: { enabled: true, workspace: flowlogs-law-weu, intervalMinutes: 60 }  # optional
//!             userAssignedIdentities: [/subscriptions/…/userAssignedIdentities/flowlog-storage-writer]  # optional
//!             tags: {}                                       # optional
//!     storageAccounts:                       # names are unique across the inventory
//!       - { name: flowlogsweu001, resourceGroup: logging-rg, location: westeurope }
//!     # A flow log's storageAccount may be in another region, or (as an ID) not exist: an inventory holds flow logs
//!     # as they are now, and accounts get deleted; writes still refuse both.
//!     networkSecurityGroups:
//!       - name: web-nsg
//!         resourceGroup: app-prod-rg
//!         location: westeurope
//!         tags: { env: prod }                # optional, on NSGs, virtual networks and NICs (subnets have none)
//!         securityRules:                     # optional; protocol, port ranges and prefixes default to "*"
//!           - { name: https, priority: 100, direction: Inbound, access: Allow, destinationPortRange: "443" }
//!         flowLog:                           # optional: the NSG flow log that exists (same fields as above,
//!           enabled: true                    # without targetResourceId; name defaults to
//!           storageAccount: flowlogsweu001   # Microsoft.Network{resourceGroup}{name}; held by the watcher of
//!                                            # the NSG's region, which must exist)
//!       - { name: new-nsg, resourceGroup: app-prod-rg, location: westeurope }   # no flow log
//!     virtualNetworks:
//!       - name: app-vnet
//!         resourceGroup: app-prod-rg
//!         location: westeurope
//!         tags: { flowlogs: exempt }
//!         addressPrefixes: [10.1.0.0/16]
//!         subnets:
//!           - name: web
//!             addressPrefix: 10.1.1.0/24
//!             networkSecurityGroup: new-nsg          # optional: the NSG attached (same subscription and region)
//!             networkSecurityGroupResourceGroup: app-prod-rg   # optional; defaults to the VNet's
//!     networkInterfaces:
//!       - name: web-vm-nic
//!         resourceGroup: app-prod-rg
//!         location: westeurope
//!         subnet: { virtualNetwork: app-vnet, name: web }   # optional; resourceGroup defaults to the NIC's
//!         privateIpAddress: 10.1.1.4                        # optional
//!         networkSecurityGroup: web-nsg                     # optional, as for subnets (group: the NIC's)
//!         tags: { role: web }
//!     virtualMachineScaleSets:               # one NIC per instance, {vmss}-nic, in the subnet
//!       - name: web-vmss
//!         resourceGroup: app-prod-rg
//!         location: westeurope
//!         subnet: { virtualNetwork: app-vnet, name: web }   # required; resourceGroup defaults to the scale set's
//!         networkSecurityGroup: web-nsg                     # optional: the NSG of its NIC configuration
//!         instances: 3                                      # 0..=1000
//!     workspaces:                            # Log Analytics; names unique across the inventory
//!       - { name: flowlogs-law-weu, resourceGroup: logging-rg, location: westeurope,
//!           customerId: 55555555-5555-5555-5555-555555555551 }
//! behaviour:                     # every field optional
//!   lro:
//!     mode: async                # async (202/201 + polling) or sync (final answers at once)
//!     retryAfterSeconds: 1
//!     durationMs: 1000           # wall-clock time an operation stays "InProgress", polled or not (at most a year)
//!     # inProgressPolls: 1       # instead: poll-counted, this many polls answer "InProgress" (no clock)
//!   throttling:
//!     enabled: true
//!     reads: { size: 250, refillPerSecond: 25.0 }
//!     writes: { size: 200, refillPerSecond: 10.0 }
//!     deletes: { size: 200, refillPerSecond: 10.0 }
//!   faults: []                   # fault rules active from the start (format above)
//!   quirks:
//!     upperCaseResourceGroups: true
//!     disabledFlowLogDefaults: true
//!     anotherOperationInProgress: true
//!     nsgFlowLogCreationBlocked: true
//!   pageSize: 2                  # items per list page (flow logs, NSGs, VNets, NICs, subscriptions)
//!   tokenLifetimeSeconds: 3599   # 0 issues tokens that are already expired
//!   providerRegistrationReads: 2
//!   armAudiences: ["https://management.core.windows.net/", "https://management.core.windows.net",
//!                  "https://management.azure.com/", "https://management.azure.com"]
//! ```
//!
//! The built-in inventory: subscription `…0001` ("Production"; westeurope, northeurope; Microsoft.Insights registered)
//! with the watchers `NetworkWatcher_westeurope`/`_northeurope` in `NetworkWatcherRG`; storage `flowlogsweu001`,
//! `flowlogsneu001` and workspaces `flowlogs-law-weu`, `flowlogs-law-neu` in `logging-rg`; NSGs `web-nsg` (flow log on,
//! 7 days; tag `env: prod`), `db-nsg` (flow log off), `new-nsg` (none) in `app-prod-rg`, `web-dr-nsg` (on) and
//! `batch-nsg` (none) in `app-dr-rg`; VNets `app-vnet` (tag `env: prod`; subnets `web` with `new-nsg` attached, `db`;
//! no flow log) in `app-prod-rg`, `shared-vnet` (flow log `shared-vnet-flowlog` on, traffic analytics to
//! `flowlogs-law-weu`, identity `flowlog-storage-writer`) in `shared-net-rg`, `dr-vnet` (tags `env: dr`, `flowlogs:
//! exempt`; subnet `app` with `batch-nsg` attached) in `app-dr-rg`; NIC `web-vm-nic` (tags `env: prod`, `role: web`) in
//! `app-vnet/web` with `web-nsg` attached. Subscription `…0002` ([`SECOND_SUBSCRIPTION_ID`], "Edge", westeurope,
//! Microsoft.Insights **not** registered): watcher `NetworkWatcher_westeurope`, storage `flowlogsweu002`
//! (`edge-logging-rg`), NSG `edge-nsg` (`edge-rg`, flow log off). Managed identities: `flowlog-operator` (the IMDS
//! default) and `flowlog-storage-writer`.
//!
//! `inventories/migration.yaml` (beside this crate's `src/`) is the NSG → VNet migration's inventory: the built-in
//! principal, identities and subscription IDs, with 23 NSG flow logs over both subscriptions and both regions, each
//! commented with what a migration plan should do with it.
//!
//! # Invented error codes
//!
//! Azure documents these rules but not their codes, so the simulator uses plausible ones (marked `// invented:` in the
//! code):
//! - `InvalidRequestFormat` (400): the body is not JSON, lacks a required property or has a wrong type;
//! - `NetworkWatcherLocationMismatch` (400): the watcher is not in the target's region, or a flow log's `location`
//!   is not the watcher's;
//! - `StorageAccountLocationMismatch` (400): the storage account is not in the target's region;
//! - `InvalidRetentionPolicy` (400): retention days outside 0..=365;
//! - `InvalidFlowLogFormat` (400): format type other than `JSON` or version other than 1 or 2;
//! - `InvalidRecordTypes` (400): `recordTypes` not a comma list of `B`, `C`, `E`, `D`;
//! - `InvalidTrafficAnalyticsInterval` (400): traffic-analytics interval other than 10 or 60;
//! - `TrafficAnalyticsWorkspaceIdMismatch` (400): `workspaceId` is not the workspace's GUID;
//! - `FlowLogAlreadyExistsForTarget` (400): a second flow log for a target (Azure allows one);
//! - `FlowLogTargetChangeNotAllowed` (400): a PUT that changes an existing flow log's target;
//! - `OperationNotFound` (404): unknown operation ID, one that ended more than 15 minutes ago, or wrong
//!   subscription/region in its URL;
//! - `NotFound` (404): a path the simulator does not implement.
//!
//! Codes whose text is only partly known: `NoRegisteredProviderFound` (the list of api-versions is abridged),
//! `InvalidResourceNamespace`, AADSTS90014 (used for an assertion type other than jwt-bearer too),
//! `TenantRequestsThrottled` (its message is assumed to follow the subscription one's).

// The modules, bottom to top: each group uses only the groups above it.
// Leaf types and pure rules:
mod defaults;
mod guid;
mod operation_names;
mod reply;
mod rules;
// Fault rules and call counters:
mod counters;
pub mod faults;
// The inventory:
pub mod inventory;
// What is built from the inventory: tokens, provider registration, throttling, the resources around flow logs and
// their JSON:
mod auth;
mod flow_records;
mod providers;
mod rate_limit;
mod resource_views;
mod world;
// The flow-log store's records, and what handlers know about a request:
mod flow_log_store;
mod request;
// Long-running operations:
mod lro;
// The state behind the mutex:
mod state;
// Its operations, by concern: how flow logs are answered and the checks of a write; then the `flowLogs` resource,
// the legacy actions, the other reads and the lists; then drift, and resources added and removed at run time:
mod flow_log_views;
mod write_checks;

mod flowlogs;
mod legacy;
mod lists;
mod reads;

mod drift;
mod resources;
// Flow-log delivery to storage, the handle on the shared state, then HTTP:
mod delivery;
mod handle;
mod write_log;

mod admin;
mod connections;
mod routes;

mod http;
#[cfg(test)]
mod test_fixtures;

pub use defaults::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_FEDERATED_ISSUER, DEFAULT_FEDERATED_SUBJECT,
    DEFAULT_MANAGED_IDENTITY_CLIENT_ID, DEFAULT_SUBSCRIPTION_ID, DEFAULT_TENANT_ID, SECOND_SUBSCRIPTION_ID,
};
pub use delivery::{Delivered, DeliveryReport, Paused, Skipped};
pub use faults::FaultRule;
pub use handle::Simulator;
pub use inventory::{Inventory, InventoryError};
pub use resources::{Applied, ResourceError};
pub use write_log::{AcceptedWrite, FlowLogChange};

impl Simulator {
    /// The routes; served by [`Simulator::serve`], whose connections `drop` faults can close without an answer
    /// (elsewhere such a fault breaks off the answer's body instead).
    pub fn router(&self) -> axum::Router {
        http::router(self.clone())
    }

    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        connections::serve(listener, self.router()).await
    }

    /// Binds 127.0.0.1:0, serves in a background tokio task, returns the base URL like "http://127.0.0.1:PORT".
    pub async fn spawn_local(self) -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            if let Err(e) = self.serve(listener).await {
                tracing::error!(error = %e, "simulator stopped");
            }
        });
        Ok(base)
    }
}
