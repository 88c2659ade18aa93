//! One flow tuple, as Network Watcher writes it in a `PT1H.json` record ([`Flow`]), parsed from its comma-separated
//! text ([`parse_tuple`]). Three layouts (`shared/notes/azure-api.md` §11):
//!
//! - NSG flow logs, version 1 (8 fields): `time,srcIP,dstIP,srcPort,dstPort,protocol(T|U),direction(I|O),decision(A|D)`;
//! - NSG flow logs, version 2 (13 fields): version 1 and `state(B|C|E),packetsSrcToDst,bytesSrcToDst,
//!   packetsDstToSrc,bytesDstToSrc`, the counters empty on begin rows;
//! - VNet flow logs (13 fields): `time,srcIP,dstIP,srcPort,dstPort,protocol(IANA number),direction(I|O),
//!   state(B|C|E|D),encryption,packetsSent,bytesSent,packetsReceived,bytesReceived`, counters empty on `B` and `D`
//!   rows; `D` (deny) is the only decision there is.
//!
//! The time is Unix seconds (NSG flow logs) or milliseconds (VNet flow logs); either is read in either layout (a
//! value above 10^11 is milliseconds: 10^11 seconds is the year 5138). Empty counters read as absent, not zero.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// Which layout a record's tuples have: the record says (an NSG record's `properties.Version`, or a VNet record).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Layout {
    NsgV1,
    NsgV2,
    Vnet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    /// Another IANA protocol number.
    Other(u8),
}

impl Protocol {
    /// `T`, `U` (NSG flow logs), or an IANA number (VNet flow logs).
    fn parse(text: &str) -> Option<Protocol> {
        match text {
            "T" | "6" => Some(Protocol::Tcp),
            "U" | "17" => Some(Protocol::Udp),
            "1" => Some(Protocol::Icmp),
            _ => text.parse::<u8>().ok().map(Protocol::Other),
        }
    }

    /// `tcp`, `udp`, `icmp` or an IANA number.
    pub fn from_name(text: &str) -> Option<Protocol> {
        match text.to_ascii_lowercase().as_str() {
            "tcp" | "t" => Some(Protocol::Tcp),
            "udp" | "u" => Some(Protocol::Udp),
            "icmp" => Some(Protocol::Icmp),
            other => Protocol::parse(other),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Tcp => f.write_str("tcp"),
            Protocol::Udp => f.write_str("udp"),
            Protocol::Icmp => f.write_str("icmp"),
            Protocol::Other(n) => write!(f, "{n}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Deny,
}

/// A flow's state (NSG version 2 and VNet flow logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowState {
    Begin,
    Continuing,
    End,
    Deny,
}

/// Packets and bytes of a flow since its previous tuple, both ways.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    pub packets_sent: u64,
    pub bytes_sent: u64,
    pub packets_received: u64,
    pub bytes_received: u64,
}

/// One flow tuple.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Flow {
    /// Unix milliseconds.
    pub time_ms: i64,
    pub src_ip: IpAddr,
    pub dst_ip: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: Protocol,
    pub direction: Direction,
    pub decision: Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<FlowState>,
    /// VNet flow logs' encryption status (`X`, `NX`, `NX_HW_NOT_SUPPORTED`, …), as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    /// Absent on version 1 tuples and on begin and deny rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counters: Option<Counters>,
}

/// Why a tuple could not be read: the field, and what it held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TupleError(pub String);

impl fmt::Display for TupleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TupleError {}

/// Values above this are milliseconds (10^11 seconds is the year 5138).
const MILLIS_FROM: i64 = 100_000_000_000;

/// One tuple in `layout`.
pub fn parse_tuple(text: &str, layout: Layout) -> Result<Flow, TupleError> {
    let fields: Vec<&str> = text.trim().split(',').map(str::trim).collect();
    let expected = if layout == Layout::NsgV1 { 8 } else { 13 };
    if fields.len() != expected {
        return Err(TupleError(format!("{} fields, {layout:?} tuples have {expected}", fields.len())));
    }
    let bad = |name: &str, value: &str| TupleError(format!("{name} {value:?} is not valid"));
    let time: i64 = fields[0].parse().map_err(|_| bad("time", fields[0]))?;
    if time < 0 {
        return Err(bad("time", fields[0]));
    }
    let time_ms =
        if time >= MILLIS_FROM { time } else { time.checked_mul(1000).ok_or_else(|| bad("time", fields[0]))? };
    let ip = |i: usize, name: &str| fields[i].parse::<IpAddr>().map_err(|_| bad(name, fields[i]));
    let port = |i: usize, name: &str| fields[i].parse::<u16>().map_err(|_| bad(name, fields[i]));
    let protocol = Protocol::parse(fields[5]).ok_or_else(|| bad("protocol", fields[5]))?;
    let direction = match fields[6] {
        "I" => Direction::Inbound,
        "O" => Direction::Outbound,
        other => return Err(bad("direction", other)),
    };
    let state = |text: &str, deny_allowed: bool| match text {
        "B" => Ok(FlowState::Begin),
        "C" => Ok(FlowState::Continuing),
        "E" => Ok(FlowState::End),
        "D" if deny_allowed => Ok(FlowState::Deny),
        other => Err(bad("flow state", other)),
    };
    let (decision, state, encryption, counters_at) = match layout {
        Layout::NsgV1 | Layout::NsgV2 => {
            let decision = match fields[7] {
                "A" => Decision::Allow,
                "D" => Decision::Deny,
                other => return Err(bad("decision", other)),
            };
            let state = if layout == Layout::NsgV2 { Some(state(fields[8], false)?) } else { None };
            (decision, state, None, 9)
        }
        Layout::Vnet => {
            let state = state(fields[7], true)?;
            let decision = if state == FlowState::Deny { Decision::Deny } else { Decision::Allow };
            if fields[8].is_empty() {
                return Err(bad("encryption", fields[8]));
            }
            (decision, Some(state), Some(fields[8].to_string()), 9)
        }
    };
    let counters = if layout == Layout::NsgV1 {
        None
    } else {
        let raw = &fields[counters_at..counters_at + 4];
        if raw.iter().all(|c| c.is_empty()) {
            None
        } else {
            let n = |i: usize| raw[i].parse::<u64>().map_err(|_| bad("counter", raw[i]));
            Some(Counters { packets_sent: n(0)?, bytes_sent: n(1)?, packets_received: n(2)?, bytes_received: n(3)? })
        }
    };
    Ok(Flow {
        time_ms,
        src_ip: ip(1, "source IP")?,
        dst_ip: ip(2, "destination IP")?,
        src_port: port(3, "source port")?,
        dst_port: port(4, "destination port")?,
        protocol,
        direction,
        decision,
        state,
        encryption,
        counters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_published_examples() {
        // NSG version 2, begin row of a denied flow: the counters are empty.
        let deny = parse_tuple("1542110402,192.0.2.190,10.5.16.4,28746,443,U,I,D,B,,,,", Layout::NsgV2).unwrap();
        assert_eq!(deny.time_ms, 1_542_110_402_000);
        assert_eq!((deny.protocol, deny.direction, deny.decision), (Protocol::Udp, Direction::Inbound, Decision::Deny));
        assert_eq!((deny.state, deny.counters), (Some(FlowState::Begin), None));
        // NSG version 2, continuing row with counters.
        let c = parse_tuple("1542110379,10.5.16.4,203.0.113.115,44931,443,T,O,A,C,30,16978,24,14008", Layout::NsgV2)
            .unwrap();
        assert_eq!(
            c.counters,
            Some(Counters { packets_sent: 30, bytes_sent: 16978, packets_received: 24, bytes_received: 14008 })
        );
        assert_eq!((c.src_port, c.dst_port, c.state), (44931, 443, Some(FlowState::Continuing)));
        // VNet flow log: milliseconds, IANA protocol, encryption.
        let v =
            parse_tuple("1663146003606,10.0.0.6,192.0.2.180,23956,443,6,O,E,NX,3,767,2,1580", Layout::Vnet).unwrap();
        assert_eq!(v.time_ms, 1_663_146_003_606);
        assert_eq!((v.protocol, v.state, v.encryption.as_deref()), (Protocol::Tcp, Some(FlowState::End), Some("NX")));
        assert_eq!(v.counters.unwrap().bytes_received, 1580);
        // NSG version 1.
        let one = parse_tuple("1542110377,10.0.0.4,13.67.143.118,44931,443,T,O,A", Layout::NsgV1).unwrap();
        assert_eq!((one.state, one.counters, one.decision), (None, None, Decision::Allow));
    }

    #[test]
    fn reads_either_time_unit_and_deny_rows_of_vnet_flow_logs() {
        let seconds = parse_tuple("1663146003,10.0.0.6,192.0.2.180,23956,443,6,I,D,NX,,,,", Layout::Vnet).unwrap();
        assert_eq!(seconds.time_ms, 1_663_146_003_000);
        assert_eq!((seconds.decision, seconds.state, seconds.counters), (Decision::Deny, Some(FlowState::Deny), None));
        let millis = parse_tuple("1542110402123,192.0.2.190,10.5.16.4,28746,443,U,I,D,B,,,,", Layout::NsgV2).unwrap();
        assert_eq!(millis.time_ms, 1_542_110_402_123);
        let v6 = parse_tuple("1542110377,2001:db8::1,2001:db8::2,1,2,T,O,A", Layout::NsgV1).unwrap();
        assert!(v6.src_ip.is_ipv6());
    }

    #[test]
    fn refuses_what_is_not_a_tuple_with_the_field_at_fault() {
        let cases = [
            ("1542110377,10.0.0.4,13.67.143.118,44931,443,T,O", Layout::NsgV1, "7 fields"),
            ("x,10.0.0.4,13.67.143.118,44931,443,T,O,A", Layout::NsgV1, "time \"x\""),
            ("1,10.0.0.999,13.67.143.118,44931,443,T,O,A", Layout::NsgV1, "source IP"),
            ("1,10.0.0.4,13.67.143.118,70000,443,T,O,A", Layout::NsgV1, "source port"),
            ("1,10.0.0.4,13.67.143.118,1,443,Q,O,A", Layout::NsgV1, "protocol"),
            ("1,10.0.0.4,13.67.143.118,1,443,T,X,A", Layout::NsgV1, "direction"),
            ("1,10.0.0.4,13.67.143.118,1,443,T,O,B", Layout::NsgV1, "decision"),
            ("1,10.0.0.4,1.2.3.4,1,443,T,O,A,D,,,,", Layout::NsgV2, "flow state \"D\""),
            ("1,10.0.0.4,1.2.3.4,1,443,T,O,A,C,1,x,3,4", Layout::NsgV2, "counter \"x\""),
            ("1,10.0.0.4,1.2.3.4,1,443,6,O,E,,1,2,3,4", Layout::Vnet, "encryption"),
            ("-5,10.0.0.4,1.2.3.4,1,443,T,O,A", Layout::NsgV1, "time"),
        ];
        for (text, layout, expected) in cases {
            let err = parse_tuple(text, layout).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
