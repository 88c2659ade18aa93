//! The edge of `flowlog-operator logs`: the flow log of a target from ARM (its watcher's list), its storage
//! account's blob endpoint (ARM), and its blobs from storage — listed by prefix, matched, the hours asked for
//! downloaded and parsed. Progress goes to `progress` (stderr in the command).

use std::fmt::Write as _;

use anyhow::{Context as _, bail};

use super::document::{Entry, parse_document};
use super::select::{Filter, Source, blob_hour};
use crate::azure::id::{NSG_TYPE, ResourceId, same_id};
use crate::azure::model::FlowLog;
use crate::azure::storage::{BlobEntry, BlobReader};
use crate::azure::{ArmClient, NetworkWatcher};

/// Where a target's flow logs are.
#[derive(Clone, Debug)]
pub struct Located {
    pub flow_log: FlowLog,
    pub source: Source,
    pub storage_id: String,
}

/// The flow log of `target`: in `watcher`'s list, or in the list of the watcher of the target's region.
pub async fn locate(arm: &ArmClient, target: &ResourceId, watcher: Option<ResourceId>) -> anyhow::Result<Located> {
    let watcher = match watcher {
        Some(watcher) => watcher,
        None => match arm.network_watcher_for(target).await? {
            Some(NetworkWatcher { id, .. }) => id,
            None => bail!("no Network Watcher in the region of {target}"),
        },
    };
    let logs = arm.list_flow_logs(&watcher).await.with_context(|| format!("listing the flow logs of {watcher}"))?;
    let Some(flow_log) = logs.into_iter().find(|f| same_id(&f.properties.target_resource_id, target.as_str())) else {
        bail!("{target} has no flow log (in {watcher})");
    };
    let source = if target.is_type(NSG_TYPE) {
        Source::Nsg { nsg: target.clone() }
    } else {
        let id = flow_log.id.clone().unwrap_or_default();
        Source::Vnet { flow_log: ResourceId::parse(&id).with_context(|| format!("the flow log's ID {id:?}"))? }
    };
    let storage_id = flow_log.properties.storage_id.clone();
    if storage_id.is_empty() {
        bail!("the flow log of {target} names no storage account (is it disabled?)");
    }
    Ok(Located { flow_log, source, storage_id })
}

/// The storage account's blob endpoint, from its ARM read (`properties.primaryEndpoints.blob`).
pub async fn blob_endpoint(arm: &ArmClient, storage_id: &str) -> anyhow::Result<String> {
    let id = ResourceId::parse(storage_id).with_context(|| format!("storage account {storage_id:?}"))?;
    let account = arm.get_resource(&id).await.with_context(|| format!("reading storage account {id}"))?;
    match account.properties["primaryEndpoints"]["blob"].as_str() {
        Some(endpoint) => Ok(endpoint.to_string()),
        None => bail!("storage account {id} has no blob endpoint"),
    }
}

/// The flow log's blobs of the hours `filter` wants, oldest first: listed by each of `source`'s prefixes in turn
/// (narrowest first) until one finds blobs of the flow log.
pub async fn blobs(
    reader: &BlobReader,
    endpoint: &url::Url,
    source: &Source,
    filter: &Filter,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Vec<(i64, BlobEntry)>> {
    let container = source.container();
    for prefix in source.prefixes() {
        progress(&format!("listing {container}/{prefix}"));
        let listed = reader.list(endpoint, container, &prefix).await.with_context(|| format!("listing {container}"))?;
        let owned: Vec<BlobEntry> = listed.into_iter().filter(|b| source.owns(&b.name)).collect();
        if owned.is_empty() {
            continue;
        }
        let total = owned.len();
        let mut wanted: Vec<(i64, BlobEntry)> = owned
            .into_iter()
            .filter_map(|b| blob_hour(&b.name).map(|hour| (hour, b)))
            .filter(|(hour, _)| filter.wants_hour(*hour))
            .collect();
        wanted.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
        progress(&format!("{total} blobs of the flow log, {} in the time range", wanted.len()));
        return Ok(wanted);
    }
    progress("no blobs of the flow log");
    Ok(Vec::new())
}

/// What the blobs held: the flows `filter` selects, in time order, and what could not be read.
#[derive(Debug, Default)]
pub struct Flows {
    pub entries: Vec<Entry>,
    pub problems: Vec<String>,
}

/// Downloads and parses `blobs`.
pub async fn read_flows(
    reader: &BlobReader,
    endpoint: &url::Url,
    container: &str,
    blobs: &[(i64, BlobEntry)],
    filter: &Filter,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Flows> {
    let mut flows = Flows::default();
    for (i, (_, blob)) in blobs.iter().enumerate() {
        let bytes =
            reader.get(endpoint, container, &blob.name).await.with_context(|| format!("downloading {}", blob.name))?;
        let text = String::from_utf8_lossy(&bytes);
        match parse_document(&text) {
            Ok(doc) => {
                let mut line =
                    format!("{}/{}: {} records, {} flows", i + 1, blobs.len(), doc.records, doc.entries.len());
                if doc.partial {
                    let _ = write!(line, " (still being written)");
                }
                progress(&line);
                flows.problems.extend(doc.problems.into_iter().map(|p| format!("{}: {p}", blob.name)));
                flows.entries.extend(doc.entries.into_iter().filter(|e| filter.matches(e)));
            }
            Err(e) => flows.problems.push(format!("{}: {e}", blob.name)),
        }
    }
    flows.entries.sort_by_key(|e| e.flow.time_ms);
    Ok(flows)
}
