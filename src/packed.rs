//! Compact bytes for what the operator keeps by the thousand (a policy's spec and status in the cache, a flow log
//! in a watcher's snapshot): the value's JSON, compressed with LZ4 against a dictionary of what such documents say.
//! Thousands of statuses repeat the same keys, condition types, reasons and messages, and ARM IDs repeat their
//! prefixes: a 1.5 KB status keeps in about 300 bytes, read back in under a microsecond. Equal values pack to equal
//! bytes (the compression is deterministic), so comparing two packed values compares bytes.
//!
//! Pure: no I/O, no clock.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// What one kind of document says, for LZ4 to refer to. Changing it changes nothing but the size (both ends use
/// the same one within a process; nothing packed leaves the process).
pub struct Dictionary(&'static [u8]);

/// What a FlowLogPolicy's status says: its keys, the condition types, reasons and messages, ARM ID fragments.
pub static STATUS: Dictionary = Dictionary(
    br#""logs":{"storageId":"","container":"insights-logs-flowlogflowevent","prefix":"flowLogResourceID=/SUBSCRIPTIONS/","lastWrite":""}"insights-logs-networksecuritygroupflowevent"resourceId=/SUBSCRIPTIONS/"/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/"LogsDelivered"LogsArriving"NoRecentLogs"AwaitingLogs"Flow-log blobs keep arriving in "{"kind":"putFlowLog","statusUrl":"https://management.azure.com/subscriptions/","resultUrl":"","resourceUrl":"","requestId":"","startedAt":"","retryAfterSeconds":1,"drift":false}"lastError":{"code":"","message":"","requestId":""},"NotFound"Throttled"AuthorizationFailed"InvalidSpec"Conflict"Stalled"Failed"Applying"Checking"Drifted"Deleting"DeletionBlocked"queryFlowLogStatus"configureFlowLog"Repairing drift in Azure"Applying the spec to Azure"Repaired drift in Azure: "DriftCorrected"trafficAnalytics":{"enabled":false,"workspaceResourceId":"/providers/Microsoft.OperationalInsights/workspaces/","intervalMinutes":60},{"observedGeneration":1,"conditions":[{"lastTransitionTime":"2026-01-01T00:00:00Z","message":"The flow log in Azure matches the spec.","observedGeneration":1,"reason":"InSync","status":"True","type":"Ready"},{"lastTransitionTime":"2026-01-01T00:00:00Z","message":"Applied the spec to Azure: enabled, storageId, retentionPolicy, format.","observedGeneration":1,"reason":"Applied","status":"False","type":"Reconciling"},{"type":"Stalled"}],"observed":{"enabled":true,"storageId":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/","retentionPolicy":{"enabled":true,"days":30},"format":{"type":"JSON","version":2}},"networkWatcherId":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_","flowLogId":"/flowLogs/","lastSyncTime":"2026-01-01T00:00:00Z","driftCorrections":0}"#,
);

/// What a FlowLogPolicy's spec says: its keys and defaults, ARM ID fragments.
pub static SPEC: Dictionary = Dictionary(
    br#"{"networkWatcher":{"resourceGroup":"NetworkWatcherRG","name":"NetworkWatcher_"},"credentialsRef":{"name":""},"trafficAnalytics":{"enabled":true,"workspaceResourceId":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/","workspaceId":"00000000-0000-0000-0000-000000000000","workspaceRegion":"westeurope","intervalMinutes":60},"enabledFilteringCriteria":"","recordTypes":"B,C,E,D","identity":{"userAssignedIdentityId":"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/"},"Microsoft.Network/networkSecurityGroups/"Microsoft.Network/networkInterfaces/"/subnets/{"target":{"resourceId":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/"},"flowLog":{"enabled":true,"storageId":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/","retentionPolicy":{"enabled":true,"days":30},"format":{"type":"JSON","version":2}},"mode":"Enforce","deletionPolicy":"Disable","interval":"10m"}"#,
);

/// What a flow log as ARM lists it says (less what a watcher's snapshot keeps apart: its ID, target, storage
/// account and region).
pub static FLOW_LOG: Dictionary = Dictionary(
    br#"{"identity":{"type":"UserAssigned","userAssignedIdentities":{"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/":{"principalId":"","clientId":""}}},"enabledFilteringCriteria":"","recordTypes":"B,C,E,D","flowAnalyticsConfiguration":{"networkWatcherFlowAnalyticsConfiguration":{"enabled":false,"workspaceId":"00000000-0000-0000-0000-000000000000","workspaceRegion":"westeurope","workspaceResourceId":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/","trafficAnalyticsInterval":60}},{"name":"-flowlog","properties":{"targetResourceId":"","targetResourceGuid":"00000000-0000-0000-0000-000000000000","storageId":"","enabled":true,"retentionPolicy":{"days":30,"enabled":true},"format":{"type":"JSON","version":2},"provisioningState":"Succeeded"}}"#,
);

/// `value` as JSON, compressed against `dictionary`.
pub fn pack<T: Serialize>(value: &T, dictionary: &Dictionary) -> Box<[u8]> {
    let json = serde_json::to_vec(value).expect("the operator's own types serialise");
    lz4_flex::block::compress_prepend_size_with_dict(&json, dictionary.0).into_boxed_slice()
}

/// The value [`pack`] packed with the same dictionary.
pub fn unpack<T: DeserializeOwned>(packed: &[u8], dictionary: &Dictionary) -> Result<T, String> {
    let json = lz4_flex::block::decompress_size_prepended_with_dict(packed, dictionary.0).map_err(|e| e.to_string())?;
    serde_json::from_slice(&json).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn reads_back_what_it_packed_smaller() {
        let status = json!({
            "observedGeneration": 4,
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Applied", "observedGeneration": 4,
                 "lastTransitionTime": "2026-12-02T06:45:12Z",
                 "message": "Applied the spec to Azure: enabled (false → true), retentionPolicy (7 days → 30 days)."},
                {"type": "Reconciling", "status": "False", "reason": "Applied", "observedGeneration": 4,
                 "lastTransitionTime": "2026-12-02T06:45:12Z",
                 "message": "Applied the spec to Azure: enabled (false → true), retentionPolicy (7 days → 30 days)."},
            ],
            "networkWatcherId": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_westeurope",
            "driftCorrections": 0
        });
        let packed = pack(&status, &STATUS);
        assert!(packed.len() * 3 < serde_json::to_vec(&status).unwrap().len(), "{} bytes", packed.len());
        assert_eq!(unpack::<Value>(&packed, &STATUS).unwrap(), status);
        assert_eq!(pack(&status, &STATUS), packed, "equal values pack to equal bytes");
        assert_eq!(unpack::<Value>(&pack(&json!({}), &FLOW_LOG), &FLOW_LOG).unwrap(), json!({}));
    }

    #[test]
    fn what_does_not_unpack_is_an_error() {
        assert!(unpack::<Value>(&[1, 0, 0], &STATUS).is_err(), "not LZ4");
        let packed = pack(&json!({"a": "b"}), &STATUS);
        assert!(unpack::<Vec<u8>>(&packed, &STATUS).is_err(), "not the type packed");
    }
}
