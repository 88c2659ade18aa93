//! What Network Watcher writes to storage for an enabled flow log, as pure functions: the container and blob name of
//! an hour (`PT1H.json`), the records (one per minute and network interface), their flow tuples — deterministic,
//! from a seed, so that tests can assert exactly what was written — and the blocks a `PT1H.json` is committed from.
//!
//! Shapes ([DOC-nsgfl], [DOC-vnetfl] in `shared/notes/azure-api.md` §11):
//! - NSG flow logs: container `insights-logs-networksecuritygroupflowevent`, blob
//!   `resourceId=/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/{RG}/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/{NSG}/
//!   y={yyyy}/m={MM}/d={dd}/h={HH}/m=00/macAddress={MAC}/PT1H.json`; a record is `{time, systemId, macAddress,
//!   category: "NetworkSecurityGroupFlowEvent", resourceId, operationName: "NetworkSecurityGroupFlowEvents",
//!   properties: {Version, flows: [{rule, flows: [{mac, flowTuples}]}]}}`; tuples of version 1 (8 fields, Unix
//!   seconds, decision `A`/`D`) or 2 (13 fields: and flow state `B`/`C`/`E` and four counters, empty on `B`).
//! - VNet flow logs: container `insights-logs-flowlogflowevent`, blob `flowLogResourceID=/{FLOW LOG ID, upper case}/
//!   y=…/m=00/macAddress={MAC}/PT1H.json`; a record is `{time, flowLogVersion: 4, flowLogGUID, macAddress, category:
//!   "FlowLogFlowEvent", flowLogResourceID, targetResourceID, operationName: "FlowLogFlowEvent", flowRecords: {flows:
//!   [{aclID, flowGroups: [{rule, flowTuples}]}]}}`; tuples of 13 fields (Unix milliseconds, IANA protocol, state
//!   `B`/`C`/`E`/`D`, encryption, four counters, empty on `B` and `D`).
//! - Blocks: Network Watcher commits a `PT1H.json` as an opening block `{"records":[` (12 bytes), one block per
//!   record (`,` before every record but the first) and a closing block `]}` (2 bytes), re-committing the list with
//!   each new record before the closing block.
//!
//! The simulator gives each target one network interface, whose MAC and private IP address (`10.1.1.x`) are derived
//! from the target's ID (an assumption: Azure writes one blob per NIC behind the target).

use serde_json::{Value, json};

use super::auth::civil;
use super::guid::derived_guid;

pub(crate) const NSG_CONTAINER: &str = "insights-logs-networksecuritygroupflowevent";
pub(crate) const VNET_CONTAINER: &str = "insights-logs-flowlogflowevent";
/// The opening block of every `PT1H.json` (12 bytes).
pub(crate) const OPENING_BLOCK: &str = "{\"records\":[";
/// The closing block (2 bytes).
pub(crate) const CLOSING_BLOCK: &str = "]}";

/// What a flow log writes, as far as storage sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FlowLogSource {
    /// The `flowLogs` resource's ID, as ARM shows it.
    pub flow_log_id: String,
    /// The target's ID (NSG, virtual network, subnet or NIC).
    pub target_id: String,
    /// NSG flow log format version (1 or 2); VNet flow logs write version 4 whatever it says.
    pub version: u32,
}

impl FlowLogSource {
    /// An NSG flow log (its target is an NSG), else a VNet flow log.
    pub(crate) fn is_nsg(&self) -> bool {
        self.target_id.to_ascii_lowercase().contains("/providers/microsoft.network/networksecuritygroups/")
    }

    pub(crate) fn container(&self) -> &'static str {
        if self.is_nsg() { NSG_CONTAINER } else { VNET_CONTAINER }
    }

    /// The MAC address of the target's one network interface: 12 upper-case hex digits, Azure's `00-0D-3A` prefix.
    pub(crate) fn mac(&self) -> String {
        format!("000D3A{:06X}", fnv1a(&self.target_id.to_ascii_lowercase()) & 0xFF_FFFF)
    }

    /// The blob of the hour that `minute` (Unix seconds) falls in.
    pub(crate) fn blob_name(&self, minute: u64) -> String {
        let (y, mo, d, h, _, _) = civil(std::time::UNIX_EPOCH + std::time::Duration::from_secs(minute));
        let (key, id) = if self.is_nsg() {
            ("resourceId", self.target_id.to_ascii_uppercase())
        } else {
            ("flowLogResourceID", self.flow_log_id.to_ascii_uppercase())
        };
        let mac = self.mac();
        format!("{key}={id}/y={y:04}/m={mo:02}/d={d:02}/h={h:02}/m=00/macAddress={mac}/PT1H.json")
    }

    /// The record of one minute (Unix seconds, a multiple of 60): deterministic for a flow log, minute and seed.
    pub(crate) fn record(&self, minute: u64, seed: u64) -> Value {
        let mut rng = fastrand::Rng::with_seed(seed ^ fnv1a(&self.flow_log_id.to_ascii_lowercase()) ^ minute);
        let time = super::auth::iso_time(std::time::UNIX_EPOCH + std::time::Duration::from_secs(minute));
        let mac = self.mac();
        let local = format!("10.1.1.{}", 4 + fnv1a(&self.target_id.to_ascii_lowercase()) % 200);
        let groups = tuples(&mut rng, &local, minute, self.is_nsg(), self.version);
        if self.is_nsg() {
            let flows: Vec<Value> = groups
                .into_iter()
                .map(|(rule, tuples)| json!({"rule": rule, "flows": [{"mac": mac, "flowTuples": tuples}]}))
                .collect();
            json!({
                "time": time,
                "systemId": derived_guid(&format!("system:{}", self.target_id.to_ascii_lowercase())),
                "macAddress": mac,
                "category": "NetworkSecurityGroupFlowEvent",
                "resourceId": self.target_id.to_ascii_uppercase(),
                "operationName": "NetworkSecurityGroupFlowEvents",
                "properties": {"Version": self.version, "flows": flows},
            })
        } else {
            let groups: Vec<Value> =
                groups.into_iter().map(|(rule, tuples)| json!({"rule": rule, "flowTuples": tuples})).collect();
            json!({
                "time": time,
                "flowLogVersion": 4,
                "flowLogGUID": derived_guid(&format!("flowlog:{}", self.flow_log_id.to_ascii_lowercase())),
                "macAddress": mac,
                "category": "FlowLogFlowEvent",
                "flowLogResourceID": self.flow_log_id.to_ascii_uppercase(),
                "targetResourceID": self.target_id,
                "operationName": "FlowLogFlowEvent",
                "flowRecords": {"flows": [{
                    "aclID": derived_guid(&format!("acl:{}", self.target_id.to_ascii_lowercase())),
                    "flowGroups": groups,
                }]},
            })
        }
    }
}

/// The block that carries a record: `,` before every record but the hour's first.
pub(crate) fn record_block(record: &Value, first: bool) -> String {
    if first { record.to_string() } else { format!(",{record}") }
}

/// 1 to 4 tuples per minute of the interface at `local`, grouped by rule (in order of first use).
fn tuples(rng: &mut fastrand::Rng, local: &str, minute: u64, nsg: bool, version: u32) -> Vec<(String, Vec<String>)> {
    const REMOTE: [&str; 4] = ["192.0.2.", "198.51.100.", "203.0.113.", "10.2.0."];
    const PORTS: [u16; 5] = [443, 80, 22, 53, 3389];
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for _ in 0..rng.usize(1..=4) {
        let remote = format!("{}{}", REMOTE[rng.usize(..REMOTE.len())], rng.u8(1..255));
        let inbound = rng.bool();
        let port = PORTS[rng.usize(..PORTS.len())];
        let udp = port == 53;
        let ephemeral = rng.u16(32768..61000);
        let (src, dst, sport, dport) =
            if inbound { (remote.as_str(), local, ephemeral, port) } else { (local, remote.as_str(), ephemeral, port) };
        let denied = inbound && rng.u8(..4) == 0;
        let at = minute + u64::from(rng.u8(..60));
        let dir = if inbound { "I" } else { "O" };
        // B (begin), C (continuing) or E (end); deny rows are begin rows in NSG v2 and `D` in VNet flow logs.
        let state = if denied { "D" } else { ["B", "C", "E"][rng.usize(..3)] };
        let counters = if state == "B" || state == "D" {
            ",,,".to_string()
        } else {
            let (p1, p2) = (rng.u32(1..200), rng.u32(1..200));
            format!("{p1},{},{p2},{}", p1 * rng.u32(60..1500), p2 * rng.u32(60..1500))
        };
        let (rule, tuple) = if nsg {
            let proto = if udp { "U" } else { "T" };
            let decision = if denied { "D" } else { "A" };
            let rule = if denied {
                "DefaultRule_DenyAllInBound".to_string()
            } else if inbound {
                format!("UserRule_allow-{port}")
            } else {
                "DefaultRule_AllowInternetOutBound".to_string()
            };
            let v1 = format!("{at},{src},{dst},{sport},{dport},{proto},{dir},{decision}");
            let tuple = if version >= 2 {
                let state = if denied { "B" } else { state };
                let counters = if state == "B" { ",,," } else { counters.as_str() };
                format!("{v1},{state},{counters}")
            } else {
                v1
            };
            (rule, tuple)
        } else {
            let proto = if udp { 17 } else { 6 };
            let millis = at * 1000 + u64::from(rng.u16(..1000));
            let encryption = ["NX", "NX", "X", "NX_HW_NOT_SUPPORTED"][rng.usize(..4)];
            let rule = if denied { "DefaultRule_DenyAllInBound".to_string() } else { format!("UserRule_allow-{port}") };
            (rule, format!("{millis},{src},{dst},{sport},{dport},{proto},{dir},{state},{encryption},{counters}"))
        };
        match groups.iter_mut().find(|(r, _)| *r == rule) {
            Some((_, tuples)) => tuples.push(tuple),
            None => groups.push((rule, vec![tuple])),
        }
    }
    groups
}

/// FNV-1a, 64 bits: a hash that is the same in every build (seeds and MACs must not change between runs).
pub(crate) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NSG: &str =
        "/subscriptions/s/resourceGroups/app-rg/providers/Microsoft.Network/networkSecurityGroups/web-nsg";
    const VNET: &str = "/subscriptions/s/resourceGroups/app-rg/providers/Microsoft.Network/virtualNetworks/app-vnet";
    const FL: &str =
        "/subscriptions/s/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NW/FlowLogs/fl";
    // 2026-12-02T09:07:00Z
    const MINUTE: u64 = 1_796_202_420;

    fn source(target: &str, version: u32) -> FlowLogSource {
        FlowLogSource { flow_log_id: FL.into(), target_id: target.into(), version }
    }

    #[test]
    fn blob_names_follow_network_watchers_layout() {
        let nsg = source(NSG, 2);
        let mac = nsg.mac();
        assert_eq!(mac.len(), 12);
        assert!(mac.starts_with("000D3A") && mac.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
        assert_eq!(
            nsg.blob_name(MINUTE),
            format!(
                "resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/APP-RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/\
                 WEB-NSG/y=2026/m=12/d=02/h=09/m=00/macAddress={mac}/PT1H.json"
            )
        );
        assert_eq!(nsg.container(), NSG_CONTAINER);
        let vnet = source(VNET, 2);
        assert_eq!(vnet.container(), VNET_CONTAINER);
        assert!(vnet.blob_name(MINUTE).starts_with(
            "flowLogResourceID=/SUBSCRIPTIONS/S/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/\
             NETWORKWATCHERS/NW/FLOWLOGS/FL/y=2026/m=12/d=02/h=09/m=00/macAddress="
        ));
        assert_ne!(vnet.mac(), nsg.mac(), "one MAC per target");
    }

    #[test]
    fn records_are_deterministic_and_shaped_like_azures() {
        let nsg = source(NSG, 2);
        assert_eq!(nsg.record(MINUTE, 7), nsg.record(MINUTE, 7));
        assert_ne!(nsg.record(MINUTE, 7), nsg.record(MINUTE, 8), "the seed matters");
        let r = nsg.record(MINUTE, 7);
        assert_eq!(r["time"], "2026-12-02T09:07:00.0000000Z");
        assert_eq!(r["category"], "NetworkSecurityGroupFlowEvent");
        assert_eq!(r["properties"]["Version"], 2);
        for group in r["properties"]["flows"].as_array().unwrap() {
            for tuple in group["flows"][0]["flowTuples"].as_array().unwrap() {
                let fields: Vec<&str> = tuple.as_str().unwrap().split(',').collect();
                assert_eq!(fields.len(), 13, "{tuple}");
                let at: u64 = fields[0].parse().unwrap();
                assert!((MINUTE..MINUTE + 60).contains(&at));
                assert_eq!(fields[8] == "B", fields[9].is_empty(), "counters are empty exactly on begin rows: {tuple}");
            }
        }
        // Every tuple of every minute has the target's one interface at one end.
        let locals: std::collections::BTreeSet<String> = (0..10)
            .flat_map(|i| {
                let r = nsg.record(MINUTE + 60 * i, 7);
                let groups = r["properties"]["flows"].as_array().unwrap().clone();
                groups.into_iter().flat_map(|g| {
                    let tuples = g["flows"][0]["flowTuples"].as_array().unwrap().clone();
                    tuples.into_iter().map(|t| {
                        let f: Vec<String> = t.as_str().unwrap().split(',').map(String::from).collect();
                        if f[6] == "I" { f[2].clone() } else { f[1].clone() }
                    })
                })
            })
            .collect();
        assert_eq!(locals.len(), 1, "{locals:?}");
        let v1 = source(NSG, 1).record(MINUTE, 7);
        let tuple = v1["properties"]["flows"][0]["flows"][0]["flowTuples"][0].as_str().unwrap().to_string();
        assert_eq!(tuple.split(',').count(), 8);

        let vnet = source(VNET, 2).record(MINUTE, 7);
        assert_eq!(vnet["flowLogVersion"], 4);
        assert_eq!(vnet["targetResourceID"], VNET);
        let tuple = vnet["flowRecords"]["flows"][0]["flowGroups"][0]["flowTuples"][0].as_str().unwrap();
        let fields: Vec<&str> = tuple.split(',').collect();
        assert_eq!(fields.len(), 13);
        assert!(fields[0].parse::<u64>().unwrap() >= MINUTE * 1000, "milliseconds");
        assert!(["6", "17"].contains(&fields[5]));
    }

    #[test]
    fn blocks_make_a_json_document() {
        let nsg = source(NSG, 2);
        let records = [nsg.record(MINUTE, 1), nsg.record(MINUTE + 60, 1)];
        assert_eq!(OPENING_BLOCK.len(), 12);
        assert_eq!(CLOSING_BLOCK.len(), 2);
        let text = format!(
            "{OPENING_BLOCK}{}{}{CLOSING_BLOCK}",
            record_block(&records[0], true),
            record_block(&records[1], false)
        );
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["records"].as_array().unwrap(), &records);
    }
}
