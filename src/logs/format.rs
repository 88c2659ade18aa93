//! Flows in each output format of `flowlog-operator logs`, pure: an aligned table for a terminal, JSON lines (one
//! object per flow, for `jq`), and CSV (RFC 4180). Every format has the same fields, in the same order.

use std::fmt::Write as _;

use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use super::document::Entry;
use super::tuple::{Decision, Direction, FlowState};

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, for a terminal.
    Table,
    /// One JSON object per line.
    Jsonl,
    /// CSV (RFC 4180) with a header row.
    Csv,
}

/// The columns of the table and the CSV, and the keys of a JSON line.
pub const COLUMNS: [&str; 15] = [
    "time",
    "srcIp",
    "srcPort",
    "dstIp",
    "dstPort",
    "protocol",
    "direction",
    "decision",
    "state",
    "encryption",
    "packetsSent",
    "bytesSent",
    "packetsReceived",
    "bytesReceived",
    "rule",
];

/// `2026-12-02T09:07:13.000Z`.
pub fn time(ms: i64) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(t) => format!("{t:.3}"),
        Err(_) => ms.to_string(),
    }
}

/// The values of `COLUMNS` for one flow (empty where the flow has none).
pub fn row(entry: &Entry) -> [String; 15] {
    let f = &entry.flow;
    let direction = match f.direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    };
    let decision = match f.decision {
        Decision::Allow => "allow",
        Decision::Deny => "deny",
    };
    let state = match f.state {
        None => "",
        Some(FlowState::Begin) => "begin",
        Some(FlowState::Continuing) => "continuing",
        Some(FlowState::End) => "end",
        Some(FlowState::Deny) => "deny",
    };
    let counter = |pick: fn(&super::tuple::Counters) -> u64| f.counters.as_ref().map(pick).map(|n| n.to_string());
    [
        time(f.time_ms),
        f.src_ip.to_string(),
        f.src_port.to_string(),
        f.dst_ip.to_string(),
        f.dst_port.to_string(),
        f.protocol.to_string(),
        direction.into(),
        decision.into(),
        state.into(),
        f.encryption.clone().unwrap_or_default(),
        counter(|c| c.packets_sent).unwrap_or_default(),
        counter(|c| c.bytes_sent).unwrap_or_default(),
        counter(|c| c.packets_received).unwrap_or_default(),
        counter(|c| c.bytes_received).unwrap_or_default(),
        entry.rule.clone(),
    ]
}

/// The flows in `format`.
pub fn render(entries: &[Entry], format: Format) -> String {
    match format {
        Format::Table => table(entries),
        Format::Jsonl => jsonl(entries),
        Format::Csv => csv(entries),
    }
}

fn table(entries: &[Entry]) -> String {
    let rows: Vec<[String; 15]> = entries.iter().map(row).collect();
    let mut widths: Vec<usize> = COLUMNS.iter().map(|c| c.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (cell, width) in cells.zip(&widths) {
            let _ = write!(text, "{cell:<width$}  ");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut out, &mut COLUMNS.iter().copied());
    for row in &rows {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    out
}

fn jsonl(entries: &[Entry]) -> String {
    let mut out = String::new();
    for entry in entries {
        let f = &entry.flow;
        let counters = f.counters.unwrap_or_default();
        let has = f.counters.is_some();
        let row = row(entry);
        let value = json!({
            "time": row[0],
            "srcIp": row[1],
            "srcPort": f.src_port,
            "dstIp": row[3],
            "dstPort": f.dst_port,
            "protocol": row[5],
            "direction": row[6],
            "decision": row[7],
            "state": f.state.map(|_| row[8].clone()),
            "encryption": f.encryption,
            "packetsSent": has.then_some(counters.packets_sent),
            "bytesSent": has.then_some(counters.bytes_sent),
            "packetsReceived": has.then_some(counters.packets_received),
            "bytesReceived": has.then_some(counters.bytes_received),
            "rule": entry.rule,
            "mac": entry.mac,
        });
        out.push_str(&value.to_string());
        out.push('\n');
    }
    out
}

/// A CSV field, quoted when it must be (RFC 4180).
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

fn csv(entries: &[Entry]) -> String {
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    for entry in entries {
        let row = row(entry);
        out.push_str(&row.iter().map(|c| field(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::document::parse_document;

    fn entries() -> Vec<Entry> {
        parse_document(
            r#"{"records":[{"properties":{"Version":2,"flows":[{"rule":"User,Rule \"x\"","flows":[{"mac":"000D3AF87856","flowTuples":[
            "1542110402,192.0.2.190,10.5.16.4,28746,443,U,I,D,B,,,,",
            "1542110379,10.5.16.4,203.0.113.115,44931,443,T,O,A,C,30,16978,24,14008"]}]}]}}]}"#,
        )
        .unwrap()
        .entries
    }

    #[test]
    fn every_format_has_the_same_fields() {
        let e = entries();
        let table = render(&e, Format::Table);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("time  "), "{table}");
        assert!(lines[1].starts_with("2018-11-13T12:00:02.000Z  192.0.2.190"), "{table}");
        assert!(lines[2].contains("  16978  "), "{table}");

        let jsonl = render(&e, Format::Jsonl);
        let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
        assert_eq!(first["decision"], "deny");
        assert_eq!(first["state"], "begin");
        assert_eq!(first["bytesSent"], serde_json::Value::Null, "empty counters are null, not 0");
        assert_eq!(first["dstPort"], 443);
        assert_eq!(first["mac"], "000D3AF87856");
        for key in COLUMNS {
            assert!(first.get(key).is_some(), "{key}");
        }

        let csv = render(&e, Format::Csv);
        let rows: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(rows[0], COLUMNS.join(","));
        assert_eq!(
            rows[2],
            "2018-11-13T11:59:39.000Z,10.5.16.4,44931,203.0.113.115,443,tcp,outbound,allow,continuing,,30,16978,24,14008,\"User,Rule \"\"x\"\"\""
        );
        assert_eq!(render(&[], Format::Csv), format!("{}\r\n", COLUMNS.join(",")));
    }
}
