//! Property tests of the flow-log parsers: any flow written as Network Watcher writes it reads back as itself, in
//! each layout and either time unit; a blob cut after any whole block reads as the records before the cut; and no
//! input, however broken, makes a parser panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::document::parse_document;
use super::tuple::{Counters, Decision, Direction, Flow, FlowState, Layout, Protocol, parse_tuple};

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|n| IpAddr::V4(Ipv4Addr::from(n))),
        any::<u128>().prop_map(|n| IpAddr::V6(Ipv6Addr::from(n))),
    ]
}

fn counters() -> impl Strategy<Value = Counters> {
    (any::<u32>(), any::<u64>(), any::<u32>(), any::<u64>()).prop_map(|(a, b, c, d)| Counters {
        packets_sent: u64::from(a),
        bytes_sent: b,
        packets_received: u64::from(c),
        bytes_received: d,
    })
}

/// A flow that `layout` can carry, and whether its time is written in milliseconds.
fn flow(layout: Layout) -> impl Strategy<Value = (Flow, bool)> {
    let protocol = match layout {
        Layout::Vnet => prop_oneof![
            Just(Protocol::Tcp),
            Just(Protocol::Udp),
            Just(Protocol::Icmp),
            (2u8..=5).prop_map(Protocol::Other)
        ]
        .boxed(),
        _ => prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)].boxed(),
    };
    (
        // 2001-09-09 (10^9 s) .. 2096: both units stay on their side of the 10^11 threshold.
        1_000_000_000i64..4_000_000_000,
        0i64..1000,
        any::<bool>(),
        (ip(), ip(), any::<u16>(), any::<u16>()),
        protocol,
        any::<bool>(),
        0u8..4,
        prop_oneof![Just("X"), Just("NX"), Just("NX_HW_NOT_SUPPORTED"), Just("NX_LOCAL_DST")],
        counters(),
    )
        .prop_map(move |(secs, ms, in_ms, (src, dst, sport, dport), protocol, inbound, pick, encryption, c)| {
            let direction = if inbound { Direction::Inbound } else { Direction::Outbound };
            let (decision, state, counters) = match layout {
                Layout::NsgV1 => (if pick % 2 == 0 { Decision::Allow } else { Decision::Deny }, None, None),
                Layout::NsgV2 => match pick {
                    0 => (Decision::Deny, Some(FlowState::Begin), None),
                    1 => (Decision::Allow, Some(FlowState::Begin), None),
                    2 => (Decision::Allow, Some(FlowState::Continuing), Some(c)),
                    _ => (Decision::Allow, Some(FlowState::End), Some(c)),
                },
                Layout::Vnet => match pick {
                    0 => (Decision::Deny, Some(FlowState::Deny), None),
                    1 => (Decision::Allow, Some(FlowState::Begin), None),
                    2 => (Decision::Allow, Some(FlowState::Continuing), Some(c)),
                    _ => (Decision::Allow, Some(FlowState::End), Some(c)),
                },
            };
            let time_ms = if in_ms { secs * 1000 + ms } else { secs * 1000 };
            let encryption = (layout == Layout::Vnet).then(|| encryption.to_string());
            let flow = Flow {
                time_ms,
                src_ip: src,
                dst_ip: dst,
                src_port: sport,
                dst_port: dport,
                protocol,
                direction,
                decision,
                state,
                encryption,
                counters,
            };
            (flow, in_ms)
        })
}

/// `flow` as Network Watcher writes it in `layout`.
fn write(flow: &Flow, layout: Layout, in_ms: bool) -> String {
    let time = if in_ms { flow.time_ms } else { flow.time_ms / 1000 };
    let protocol = match (layout, flow.protocol) {
        (Layout::Vnet, Protocol::Tcp) => "6".to_string(),
        (Layout::Vnet, Protocol::Udp) => "17".to_string(),
        (Layout::Vnet, Protocol::Icmp) => "1".to_string(),
        (Layout::Vnet, Protocol::Other(n)) => n.to_string(),
        (_, Protocol::Tcp) => "T".into(),
        (_, _) => "U".into(),
    };
    let dir = if flow.direction == Direction::Inbound { "I" } else { "O" };
    let state = match flow.state {
        Some(FlowState::Begin) => "B",
        Some(FlowState::Continuing) => "C",
        Some(FlowState::End) => "E",
        Some(FlowState::Deny) => "D",
        None => "",
    };
    let counters = match flow.counters {
        Some(c) => format!("{},{},{},{}", c.packets_sent, c.bytes_sent, c.packets_received, c.bytes_received),
        None => ",,,".into(),
    };
    let head = format!("{time},{},{},{},{},{protocol},{dir}", flow.src_ip, flow.dst_ip, flow.src_port, flow.dst_port);
    match layout {
        Layout::NsgV1 | Layout::NsgV2 => {
            let decision = if flow.decision == Decision::Allow { "A" } else { "D" };
            if layout == Layout::NsgV1 {
                format!("{head},{decision}")
            } else {
                format!("{head},{decision},{state},{counters}")
            }
        }
        Layout::Vnet => format!("{head},{state},{},{counters}", flow.encryption.as_deref().unwrap_or_default()),
    }
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![Just(Layout::NsgV1), Just(Layout::NsgV2), Just(Layout::Vnet)]
}

/// An NSG (version 2) record holding `tuples`.
fn nsg_record(tuples: &[String]) -> String {
    serde_json::json!({"time": "2026-12-02T09:00:00.0000000Z", "properties": {"Version": 2, "flows": [
        {"rule": "UserRule_x", "flows": [{"mac": "000D3A000001", "flowTuples": tuples}]}]}})
    .to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_flow_reads_back_as_written((layout, (flow, in_ms)) in layout().prop_flat_map(|l| (Just(l), flow(l)))) {
        let text = write(&flow, layout, in_ms);
        prop_assert_eq!(parse_tuple(&text, layout), Ok(flow), "{}", text);
    }

    #[test]
    fn a_blob_cut_after_any_block_reads_as_the_records_before_the_cut(
        records in prop::collection::vec(prop::collection::vec(flow(Layout::NsgV2), 1..4), 0..6),
        cut in any::<prop::sample::Index>(),
        closed in any::<bool>(),
    ) {
        // The blocks Network Watcher commits: opening, one per record (a comma before all but the first), closing.
        let texts: Vec<Vec<String>> = records
            .iter()
            .map(|r| r.iter().map(|(f, ms)| write(f, Layout::NsgV2, *ms)).collect())
            .collect();
        let mut blocks = vec!["{\"records\":[".to_string()];
        for (i, tuples) in texts.iter().enumerate() {
            blocks.push(format!("{}{}", if i == 0 { "" } else { "," }, nsg_record(tuples)));
        }
        let kept = if records.is_empty() { 0 } else { cut.index(records.len() + 1) };
        let mut text: String = blocks[..=kept].concat();
        if closed {
            text.push_str("]}");
        }
        let doc = parse_document(&text).unwrap();
        prop_assert_eq!(doc.records, kept);
        prop_assert_eq!(doc.partial, !closed);
        let expected: Vec<Flow> = records[..kept].iter().flatten().map(|(f, _)| f.clone()).collect();
        let read: Vec<Flow> = doc.entries.into_iter().map(|e| e.flow).collect();
        prop_assert_eq!(read, expected);
        prop_assert!(doc.problems.is_empty());
    }

    #[test]
    fn no_tuple_text_panics(text in ".{0,80}", layout in layout()) {
        let _ = parse_tuple(&text, layout);
    }

    #[test]
    fn tuples_of_random_fields_never_panic(
        fields in prop::collection::vec(prop_oneof![Just("".to_string()), "[0-9]{1,20}", "[A-Z_]{1,3}", "[0-9.:]{1,12}"], 8..14),
        layout in layout(),
    ) {
        let _ = parse_tuple(&fields.join(","), layout);
    }

    #[test]
    fn no_document_text_panics(text in "\\{\"records\":\\[.{0,200}") {
        let _ = parse_document(&text);
    }
}
