//! A `PT1H.json` blob's flows ([`parse_document`]): NSG and VNet flow-log records, complete or still being written.
//!
//! Network Watcher commits a blob as an opening block `{"records":[` (12 bytes), one block per record and a closing
//! block `]}` (2 bytes), committing the list again as records arrive; a reader can meet the blob between two
//! commits, or read it while a writer lacks the closing block, so a document without its closing `]}` (with or
//! without a trailing comma) is read as far as it goes. A tuple that cannot be read is reported and skipped, not
//! fatal: one bad row does not hide an hour of flows.

use serde::Serialize;
use serde_json::Value;

use super::tuple::{Flow, Layout, parse_tuple};

/// A flow and the record it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[serde(flatten)]
    pub flow: Flow,
    /// The rule that allowed or denied it (`DefaultRule_DenyAllInBound`, `UserRule_…`).
    pub rule: String,
    /// The network interface's MAC address (12 hex digits).
    pub mac: String,
}

/// What a blob held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Document {
    pub entries: Vec<Entry>,
    pub records: usize,
    /// The blob lacked its closing block (being written).
    pub partial: bool,
    /// Tuples (or records) that could not be read, and why.
    pub problems: Vec<String>,
}

/// Why a blob could not be read at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a flow-log document: {0}")]
pub struct DocumentError(pub String);

/// The flows of a `PT1H.json`.
pub fn parse_document(text: &str) -> Result<Document, DocumentError> {
    let trimmed = text.trim();
    let (value, partial) = match serde_json::from_str::<Value>(trimmed) {
        Ok(value) => (value, false),
        Err(complete_error) => {
            // Still being written: the opening block and whole records, no closing block.
            let body = trimmed.trim_end().trim_end_matches(',');
            let opened = body.starts_with('{') && body[1..].trim_start().starts_with("\"records\"");
            let repaired = format!("{body}]}}");
            match serde_json::from_str::<Value>(&repaired) {
                Ok(value) if opened => (value, true),
                _ => return Err(DocumentError(complete_error.to_string())),
            }
        }
    };
    let records =
        value.get("records").and_then(Value::as_array).ok_or_else(|| DocumentError("no \"records\" list".into()))?;
    let mut document = Document { records: records.len(), partial, ..Document::default() };
    for (i, record) in records.iter().enumerate() {
        read_record(record, i, &mut document);
    }
    Ok(document)
}

fn read_record(record: &Value, index: usize, document: &mut Document) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut tuples = |layout: Layout, rule: &str, mac: &str, list: &Value| {
        for tuple in list.as_array().into_iter().flatten() {
            let Some(tuple) = tuple.as_str() else {
                document.problems.push(format!("record {index}: a tuple that is not a string"));
                continue;
            };
            match parse_tuple(tuple, layout) {
                Ok(flow) => document.entries.push(Entry { flow, rule: rule.to_string(), mac: mac.to_string() }),
                Err(e) => document.problems.push(format!("record {index}: tuple {tuple:?}: {e}")),
            }
        }
    };
    if let Some(records) = record.get("flowRecords") {
        // VNet flow log: flowRecords.flows[].flowGroups[].{rule, flowTuples}
        let mac = text(&record["macAddress"]);
        for acl in records["flows"].as_array().into_iter().flatten() {
            for group in acl["flowGroups"].as_array().into_iter().flatten() {
                tuples(Layout::Vnet, &text(&group["rule"]), &mac, &group["flowTuples"]);
            }
        }
    } else if let Some(properties) = record.get("properties") {
        // NSG flow log: properties.{Version, flows[].{rule, flows[].{mac, flowTuples}}}
        let layout = match properties["Version"].as_u64() {
            Some(1) => Layout::NsgV1,
            Some(2) => Layout::NsgV2,
            other => {
                document.problems.push(format!("record {index}: NSG flow-log version {other:?} is not 1 or 2"));
                return;
            }
        };
        for rule in properties["flows"].as_array().into_iter().flatten() {
            for by_mac in rule["flows"].as_array().into_iter().flatten() {
                tuples(layout, &text(&rule["rule"]), &text(&by_mac["mac"]), &by_mac["flowTuples"]);
            }
        }
    } else {
        document.problems.push(format!("record {index}: neither an NSG nor a VNet flow-log record"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::tuple::{Decision, FlowState};

    /// An NSG flow-log record (version 2) in the documented shape, with the published example tuples
    /// (`shared/notes/azure-api.md` §11) and one more begin row.
    const NSG_V2: &str = r#"{"records":[{"time":"2018-11-13T12:00:35.3899262Z","systemId":"a0fca5ce-022c-47b1-9735-89943b42f2fa","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/FABRIKAMRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/FABRIAKMVM1-NSG","operationName":"NetworkSecurityGroupFlowEvents","properties":{"Version":2,"flows":[{"rule":"DefaultRule_DenyAllInBound","flows":[{"mac":"000D3AF87856","flowTuples":["1542110402,192.0.2.190,10.5.16.4,28746,443,U,I,D,B,,,,","1542110424,192.0.2.10,10.5.16.4,56509,59336,T,I,D,B,,,,"]}]},{"rule":"DefaultRule_AllowInternetOutBound","flows":[{"mac":"000D3AF87856","flowTuples":["1542110379,10.5.16.4,203.0.113.115,44931,443,T,O,A,C,30,16978,24,14008"]}]}]}}]}"#;

    /// A VNet flow-log record in the documented shape, with the published example tuple and its begin row.
    const VNET: &str = r#"{"records":[{"time":"2022-09-14T09:00:52.5625085Z","flowLogVersion":4,"flowLogGUID":"66aa66aa-bb77-cc88-dd99-00ee00ee00ee","macAddress":"112233445566","category":"FlowLogFlowEvent","flowLogResourceID":"/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_EASTUS2EUAP/FLOWLOGS/VNETFLOWLOG","targetResourceID":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/myResourceGroup/providers/Microsoft.Network/virtualNetworks/myVNet","operationName":"FlowLogFlowEvent","flowRecords":{"flows":[{"aclID":"00aa00aa-bb11-cc22-dd33-44ee44ee44ee","flowGroups":[{"rule":"DefaultRule_AllowInternetOutBound","flowTuples":["1663146003599,10.0.0.6,192.0.2.180,23956,443,6,O,B,NX,0,0,0,0","1663146003606,10.0.0.6,192.0.2.180,23956,443,6,O,E,NX,3,767,2,1580"]}]}]}}]}"#;

    #[test]
    fn reads_the_published_nsg_record() {
        let doc = parse_document(NSG_V2).unwrap();
        assert_eq!((doc.records, doc.partial, doc.problems.len()), (1, false, 0));
        assert_eq!(doc.entries.len(), 3);
        assert_eq!(doc.entries[0].rule, "DefaultRule_DenyAllInBound");
        assert_eq!(doc.entries[0].mac, "000D3AF87856");
        assert_eq!(doc.entries[0].flow.decision, Decision::Deny);
        assert_eq!(doc.entries[2].flow.counters.unwrap().packets_sent, 30);
    }

    #[test]
    fn reads_the_published_vnet_record() {
        let doc = parse_document(VNET).unwrap();
        assert_eq!(doc.entries.len(), 2);
        assert_eq!(doc.entries[0].mac, "112233445566");
        assert_eq!(doc.entries[0].flow.state, Some(FlowState::Begin));
        // Zero counters on a begin row are kept as written (zero), unlike empty ones.
        assert_eq!(doc.entries[0].flow.counters.unwrap().bytes_sent, 0);
        assert_eq!(doc.entries[1].flow.counters.unwrap().bytes_sent, 767);
    }

    #[test]
    fn reads_a_blob_still_being_written() {
        let complete = parse_document(NSG_V2).unwrap();
        let open = &NSG_V2[..NSG_V2.len() - 2];
        assert!(open.ends_with('}'));
        let partial = parse_document(open).unwrap();
        assert!(partial.partial);
        assert_eq!(partial.entries, complete.entries);
        let with_comma = parse_document(&format!("{open},")).unwrap();
        assert_eq!(with_comma.entries, complete.entries);
        // Only the opening block: no records yet.
        let empty = parse_document("{\"records\":[").unwrap();
        assert_eq!((empty.records, empty.partial), (0, true));
        // Cut inside a record: not a document (a reader never sees half a block).
        assert!(parse_document(&NSG_V2[..100]).is_err());
        assert!(parse_document("[1, 2]").is_err());
        assert!(parse_document("").is_err());
    }

    #[test]
    fn a_bad_tuple_is_reported_not_fatal() {
        let text = NSG_V2.replace("1542110424,192.0.2.10", "1542110424,999.119.4.10");
        let doc = parse_document(&text).unwrap();
        assert_eq!(doc.entries.len(), 2);
        assert_eq!(doc.problems.len(), 1);
        assert!(doc.problems[0].contains("source IP \"999.119.4.10\""), "{:?}", doc.problems);
        let unknown = parse_document(r#"{"records":[{"properties":{"Version":3,"flows":[]}}, {"x":1}]}"#).unwrap();
        assert_eq!(unknown.problems.len(), 2, "{:?}", unknown.problems);
    }
}
