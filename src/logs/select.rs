//! Which blobs and flows to show, as pure functions: where a flow log's blobs are (container, prefixes to list
//! by, whether a listed name is the flow log's), which hour a blob holds, and the filters of `flowlog-operator logs`.
//!
//! Microsoft documents a VNet flow log's blob path in more than one form (`flowLogResourceID=/SUBSCRIPTIONS/{SUB}/
//! RESOURCEGROUPS/{RG}/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/{NW}/FLOWLOGS/{NAME}/…` and
//! `flowLogResourceID=/{SUB}_{RG}/{NW}_{NAME}/…`), and NSG flow logs' under `resourceId=/SUBSCRIPTIONS/…`, so the
//! path is never built: the container is listed by prefixes that each form starts with, from the narrowest to the
//! subscription's, and a name is taken when it names the flow log (or NSG) in any of the forms. The hour comes
//! from the name's `y=`, `m=`, `d=` and `h=` segments, wherever they are.

use std::net::IpAddr;

use super::document::Entry;
use super::tuple::{Decision, Direction, Protocol};
use crate::azure::id::ResourceId;

pub const NSG_CONTAINER: &str = "insights-logs-networksecuritygroupflowevent";
pub const VNET_CONTAINER: &str = "insights-logs-flowlogflowevent";

/// What a flow log's blobs are named after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An NSG flow log: blobs are named after the NSG.
    Nsg { nsg: ResourceId },
    /// A VNet flow log: blobs are named after the flow log resource.
    Vnet { flow_log: ResourceId },
}

impl Source {
    pub fn container(&self) -> &'static str {
        match self {
            Source::Nsg { .. } => NSG_CONTAINER,
            Source::Vnet { .. } => VNET_CONTAINER,
        }
    }

    /// Prefixes to list by, narrowest first; the last is the subscription's (every form starts with one of them).
    pub fn prefixes(&self) -> Vec<String> {
        match self {
            Source::Nsg { nsg } => vec![
                format!("resourceId={}/", nsg.as_str().to_ascii_uppercase()),
                format!("resourceId=/SUBSCRIPTIONS/{}/", nsg.subscription.to_ascii_uppercase()),
            ],
            Source::Vnet { flow_log } => {
                let (sub, rg) =
                    (flow_log.subscription.to_ascii_uppercase(), flow_log.resource_group.to_ascii_uppercase());
                let (watcher, name) = watcher_and_name(flow_log);
                vec![
                    format!("flowLogResourceID={}/", flow_log.as_str().to_ascii_uppercase()),
                    format!("flowLogResourceID=/{sub}_{rg}/{watcher}_{name}/"),
                    format!("flowLogResourceID=/SUBSCRIPTIONS/{sub}/"),
                    format!("flowLogResourceID=/{sub}_"),
                ]
            }
        }
    }

    /// Whether a listed blob is one of this flow log's `PT1H.json`s, in any of the documented forms.
    pub fn owns(&self, name: &str) -> bool {
        let upper = name.to_ascii_uppercase();
        upper.ends_with("/PT1H.JSON") && self.owner_prefixes().iter().any(|p| upper.starts_with(p.as_str()))
    }

    /// What the names of this flow log's blobs start with, upper-cased, one per documented form.
    pub fn owner_prefixes(&self) -> Vec<String> {
        match self {
            Source::Nsg { nsg } => vec![format!("RESOURCEID={}/", nsg.as_str().to_ascii_uppercase())],
            Source::Vnet { flow_log } => {
                let (watcher, name) = watcher_and_name(flow_log);
                let (sub, rg) =
                    (flow_log.subscription.to_ascii_uppercase(), flow_log.resource_group.to_ascii_uppercase());
                vec![
                    format!("FLOWLOGRESOURCEID={}/", flow_log.as_str().to_ascii_uppercase()),
                    format!("FLOWLOGRESOURCEID=/{sub}_{rg}/{watcher}_{name}/"),
                ]
            }
        }
    }
}

/// Finds, among many flow logs, the one a listed blob belongs to: one listing of a container serves every flow log
/// of the storage account (a lookup per `/` of the name, not a comparison per flow log).
#[derive(Debug, Default)]
pub struct Owners<K> {
    by_prefix: std::collections::HashMap<String, K>,
}

impl<K: Clone> Owners<K> {
    pub fn new(sources: impl IntoIterator<Item = (K, Source)>) -> Self {
        let mut by_prefix = std::collections::HashMap::new();
        for (key, source) in sources {
            for prefix in source.owner_prefixes() {
                by_prefix.insert(prefix, key.clone());
            }
        }
        Owners { by_prefix }
    }

    /// The flow log a `PT1H.json` named `name` belongs to, if any of them.
    pub fn owner(&self, name: &str) -> Option<&K> {
        let upper = name.to_ascii_uppercase();
        if !upper.ends_with("/PT1H.JSON") {
            return None;
        }
        upper.match_indices('/').find_map(|(i, _)| self.by_prefix.get(&upper[..=i]))
    }
}

/// A flow log ID's watcher and flow-log names, upper-cased.
fn watcher_and_name(flow_log: &ResourceId) -> (String, String) {
    let text = flow_log.as_str().to_ascii_uppercase();
    let mut parts = text.rsplit('/');
    let name = parts.next().unwrap_or_default().to_string();
    let _flow_logs = parts.next();
    let watcher = parts.next().unwrap_or_default().to_string();
    (watcher, name)
}

/// The start of the hour a blob holds (Unix seconds), from its `y=`, `m=`, `d=`, `h=` segments.
pub fn blob_hour(name: &str) -> Option<i64> {
    let mut parts = name.split('/');
    let mut take =
        |key: &str| -> Option<u32> { parts.by_ref().find_map(|p| p.strip_prefix(key)).and_then(|v| v.parse().ok()) };
    let (y, m, d, h) = (take("y=")?, take("m=")?, take("d=")?, take("h=")?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 {
        return None;
    }
    Some(days_from_civil(i64::from(y), m, d) * 86_400 + i64::from(h) * 3600)
}

/// Days since 1970-01-01 of a date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An IP address or a CIDR block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpMatch {
    pub network: IpAddr,
    pub prefix: u8,
}

impl IpMatch {
    pub fn parse(text: &str) -> Result<IpMatch, String> {
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, prefix)) => (ip, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = ip.trim().parse().map_err(|_| format!("{text:?} is not an IP address or CIDR block"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0..={max}"))?,
            None => max,
        };
        Ok(IpMatch { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> (u128, u32) {
            match ip {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        };
        let ((net, width), (addr, other)) = (bits(self.network), bits(ip));
        if width != other {
            return false;
        }
        let shift = width - u32::from(self.prefix);
        shift >= width || (net >> shift) == (addr >> shift)
    }
}

/// The flows to show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Either end of the flow is in one of these (none: any).
    pub ips: Vec<IpMatch>,
    /// Either port is one of these (none: any).
    pub ports: Vec<u16>,
    pub protocol: Option<Protocol>,
    pub direction: Option<Direction>,
    pub denied_only: bool,
    /// Unix milliseconds, inclusive.
    pub since_ms: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until_ms: Option<i64>,
}

impl Filter {
    pub fn matches(&self, entry: &Entry) -> bool {
        let f = &entry.flow;
        (self.ips.is_empty() || self.ips.iter().any(|m| m.contains(f.src_ip) || m.contains(f.dst_ip)))
            && (self.ports.is_empty() || self.ports.iter().any(|p| *p == f.src_port || *p == f.dst_port))
            && self.protocol.is_none_or(|p| p == f.protocol)
            && self.direction.is_none_or(|d| d == f.direction)
            && (!self.denied_only || f.decision == Decision::Deny)
            && self.since_ms.is_none_or(|s| f.time_ms >= s)
            && self.until_ms.is_none_or(|u| f.time_ms < u)
    }

    /// Whether the hour starting at `hour` (Unix seconds) can hold a flow of the time range.
    pub fn wants_hour(&self, hour: i64) -> bool {
        let (start, end) = (hour * 1000, (hour + 3600) * 1000);
        self.since_ms.is_none_or(|s| end > s) && self.until_ms.is_none_or(|u| start < u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::document::parse_document;

    fn id(text: &str) -> ResourceId {
        ResourceId::parse(text).unwrap()
    }

    const NSG: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/app-prod-rg/providers/Microsoft.Network/networkSecurityGroups/web-nsg";
    const FLOW_LOG: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_westeurope/flowLogs/shared-vnet-flowlog";

    #[test]
    fn names_in_every_documented_form_are_taken_and_others_are_not() {
        let nsg = Source::Nsg { nsg: id(NSG) };
        let upper = NSG.to_ascii_uppercase();
        assert!(nsg.owns(&format!("resourceId={upper}/y=2026/m=12/d=02/h=09/m=00/macAddress=000D3A000001/PT1H.json")));
        assert!(
            !nsg.owns(&format!("resourceId={upper}2/y=2026/m=12/d=02/h=09/m=00/macAddress=000D3A000001/PT1H.json"))
        );
        assert!(
            !nsg.owns(&format!("resourceId={upper}/y=2026/m=12/d=02/h=09/m=00/macAddress=000D3A000001/other.json"))
        );
        assert_eq!(nsg.container(), NSG_CONTAINER);
        assert!(
            nsg.prefixes()[0].starts_with(
                "resourceId=/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/APP-PROD-RG/"
            )
        );

        let vnet = Source::Vnet { flow_log: id(FLOW_LOG) };
        let documented = format!(
            "flowLogResourceID={}/y=2026/m=12/d=02/h=09/m=00/macAddress=000D3A000002/PT1H.json",
            FLOW_LOG.to_ascii_uppercase()
        );
        let short = "flowLogResourceID=/00000000-0000-0000-0000-000000000001_NETWORKWATCHERRG/NETWORKWATCHER_WESTEUROPE_SHARED-VNET-FLOWLOG/y=2026/m=12/d=02/h=09/m=00/macAddress=000D3A000002/PT1H.json";
        assert!(vnet.owns(&documented));
        assert!(vnet.owns(short));
        assert!(!vnet.owns(&short.replace("SHARED-VNET-FLOWLOG", "OTHER")));
        // Every form starts with one of the prefixes listed.
        for name in [documented.as_str(), short] {
            assert!(vnet.prefixes().iter().any(|p| name.starts_with(p.as_str())), "{name}");
        }
    }

    #[test]
    fn one_listing_finds_each_blobs_flow_log_as_owns_does() {
        let other_nsg = NSG.replace("web-nsg", "web-nsg-2");
        let sources = [
            ("web", Source::Nsg { nsg: id(NSG) }),
            ("web2", Source::Nsg { nsg: id(&other_nsg) }),
            ("vnet", Source::Vnet { flow_log: id(FLOW_LOG) }),
        ];
        let owners = Owners::new(sources.iter().cloned());
        let tail = "y=2026/m=12/d=02/h=09/m=00/macAddress=000D3A000001/PT1H.json";
        let names = [
            format!("resourceId={}/{tail}", NSG.to_ascii_uppercase()),
            format!("resourceId={}/{tail}", other_nsg.to_ascii_uppercase()),
            format!("resourceId={}/{tail}", NSG.to_ascii_lowercase()),
            format!("flowLogResourceID={}/{tail}", FLOW_LOG.to_ascii_uppercase()),
            format!(
                "flowLogResourceID=/00000000-0000-0000-0000-000000000001_NETWORKWATCHERRG/NETWORKWATCHER_WESTEUROPE_SHARED-VNET-FLOWLOG/{tail}"
            ),
            format!("resourceId={}3/{tail}", NSG.to_ascii_uppercase()),
            format!("resourceId={}/{}", NSG.to_ascii_uppercase(), tail.replace("PT1H", "other")),
        ];
        for name in &names {
            let by_owns: Vec<&str> = sources.iter().filter(|(_, s)| s.owns(name)).map(|(k, _)| *k).collect();
            assert_eq!(owners.owner(name).into_iter().copied().collect::<Vec<_>>(), by_owns, "{name}");
        }
        assert_eq!(owners.owner(&names[1]), Some(&"web2"));
        assert_eq!(owners.owner(&names[4]), Some(&"vnet"));
        assert_eq!(owners.owner(&names[5]), None);
    }

    #[test]
    fn the_hour_comes_from_the_name() {
        let name = "resourceId=/SUBSCRIPTIONS/S/y=2026/m=12/d=02/h=09/m=00/macAddress=000D3A000001/PT1H.json";
        assert_eq!(blob_hour(name), Some(1_796_202_000)); // 2026-12-02T09:00:00Z
        assert_eq!(blob_hour("flowLogResourceID=/X_Y/Z/y=1970/m=01/d=01/h=00/m=00/PT1H.json"), Some(0));
        assert_eq!(blob_hour("a/y=2026/m=13/d=02/h=09/PT1H.json"), None);
        assert_eq!(blob_hour("a/y=2026/d=02/PT1H.json"), None);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn filters_select_flows() {
        let doc = parse_document(
            r#"{"records":[{"properties":{"Version":2,"flows":[{"rule":"r","flows":[{"mac":"M","flowTuples":[
            "1542110402,192.0.2.190,10.5.16.4,28746,443,U,I,D,B,,,,",
            "1542110379,10.5.16.4,203.0.113.115,44931,443,T,O,A,C,30,16978,24,14008",
            "1542110500,10.5.16.5,203.0.113.7,40000,22,T,O,A,E,1,2,3,4"]}]}]}}]}"#,
        )
        .unwrap();
        let shown = |filter: Filter| -> Vec<i64> {
            doc.entries.iter().filter(|e| filter.matches(e)).map(|e| e.flow.time_ms / 1000).collect()
        };
        assert_eq!(shown(Filter::default()), [1542110402, 1542110379, 1542110500]);
        assert_eq!(shown(Filter { denied_only: true, ..Filter::default() }), [1542110402]);
        assert_eq!(shown(Filter { ports: vec![22], ..Filter::default() }), [1542110500]);
        assert_eq!(shown(Filter { protocol: Some(Protocol::Udp), ..Filter::default() }), [1542110402]);
        assert_eq!(
            shown(Filter { direction: Some(Direction::Outbound), ..Filter::default() }),
            [1542110379, 1542110500]
        );
        let net = IpMatch::parse("203.0.113.0/28").unwrap();
        assert_eq!(shown(Filter { ips: vec![net], ..Filter::default() }), [1542110500]);
        let one = IpMatch::parse("10.5.16.4").unwrap();
        assert_eq!(shown(Filter { ips: vec![one], ..Filter::default() }), [1542110402, 1542110379]);
        let range =
            Filter { since_ms: Some(1_542_110_379_000), until_ms: Some(1_542_110_402_000), ..Filter::default() };
        assert_eq!(shown(range), [1542110379]);
        assert!(IpMatch::parse("10.0.0.0/33").is_err());
        assert!(IpMatch::parse("nope").is_err());
        assert!(IpMatch::parse("::/0").unwrap().contains("2001:db8::1".parse().unwrap()));
        assert!(!IpMatch::parse("::/0").unwrap().contains("10.0.0.1".parse().unwrap()));
        assert!(IpMatch::parse("0.0.0.0/0").unwrap().contains("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn hours_overlapping_the_range_are_wanted() {
        let f = Filter { since_ms: Some(3_600_000 + 1), until_ms: Some(7_200_000), ..Filter::default() };
        assert!(!f.wants_hour(0));
        assert!(f.wants_hour(3600));
        assert!(!f.wants_hour(7200));
        assert!(Filter::default().wants_hour(0));
    }
}
