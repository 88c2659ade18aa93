//! Flow-log delivery: what Network Watcher does with an enabled flow log's records — `PT1H.json` block blobs in the
//! flow log's storage account, written through the Blob service's REST API (Azurite in the tests) with a bearer token
//! for the storage audience. Records come from `flow_records.rs` (deterministic); this file is the outgoing HTTP and
//! what was written where, so that a blob grows as Network Watcher grows it: an opening block, one block per record,
//! a closing block, the block list committed again after every record.
//!
//! Delivery runs when asked ([`Delivery::deliver`]: the admin API, tests, or `flowlog-sim --deliver-every`), for the
//! minutes asked, never twice for a flow log and minute. It can be paused per storage account or per flow log (a
//! storage firewall, a rotated key, a missing role: what makes Azure stop writing while the flow log stays enabled).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use super::auth::{jwt_shaped, unix_seconds};
use super::flow_records::{CLOSING_BLOCK, FlowLogSource, OPENING_BLOCK, record_block};
use flowlog_wire::model::FlowLog;

/// The Blob service REST version the simulator speaks.
const STORAGE_VERSION: &str = "2021-08-06";
/// The audience of storage tokens (Azurite's `--oauth basic` accepts it).
const STORAGE_AUDIENCE: &str = "https://storage.azure.com/";

/// Where flow logs are delivered, and what is paused.
#[derive(Default)]
pub(crate) struct Delivery {
    /// The Blob service, path-style (`https://127.0.0.1:PORT/`): account `a`'s blob endpoint is `{endpoint}a/`.
    pub endpoint: Option<Url>,
    client: Option<reqwest::Client>,
    /// The seed of every record (tests pick it to know what is written).
    pub seed: u64,
    /// The tenant in the tokens' issuer.
    pub tenant: String,
    pub paused: Paused,
    /// Per blob URL: the blocks committed, in order (the opening block first, the closing block last).
    blobs: HashMap<String, Vec<String>>,
    /// (flow log ID lower-cased, minute) already written.
    written: BTreeSet<(String, u64)>,
    containers: BTreeSet<String>,
}

/// What delivery skips: storage accounts (by name) and flow logs (by ID), lower-cased.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Paused {
    pub storage_accounts: BTreeSet<String>,
    pub flow_logs: BTreeSet<String>,
}

/// One record written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivered {
    pub flow_log: String,
    pub storage_account: String,
    pub container: String,
    pub blob: String,
    /// The minute (Unix seconds).
    pub minute: u64,
    pub record: Value,
}

/// A flow log that wrote nothing, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    pub flow_log: String,
    pub minute: u64,
    pub reason: String,
}

/// What one delivery did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryReport {
    pub written: Vec<Delivered>,
    pub skipped: Vec<Skipped>,
}

impl Delivery {
    /// Nowhere to deliver yet ([`Delivery::configure`]); tokens name `tenant` in their issuer.
    pub(crate) fn new(tenant: String) -> Delivery {
        Delivery { tenant, ..Delivery::default() }
    }

    /// Delivers to `endpoint` (a Blob service, path-style), trusting the PEM certificates `ca_pem` besides the
    /// system's.
    pub(crate) fn configure(&mut self, endpoint: Url, ca_pem: Option<&[u8]>) -> Result<(), String> {
        if endpoint.scheme() != "https" {
            return Err(format!("the storage endpoint {endpoint} is not https (storage OAuth needs TLS)"));
        }
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("the storage CA file is not PEM: {e}"))?;
            if certs.is_empty() {
                return Err("the storage CA file holds no PEM certificate".into());
            }
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder.build().map_err(|e| format!("the storage HTTP client: {e}"))?;
        let mut endpoint = endpoint;
        if !endpoint.path().ends_with('/') {
            endpoint.set_path(&format!("{}/", endpoint.path()));
        }
        self.endpoint = Some(endpoint);
        self.client = Some(client);
        Ok(())
    }

    /// Account `name`'s blob endpoint, as its ARM read shows it (`primaryEndpoints.blob`).
    pub(crate) fn blob_endpoint(endpoint: &Url, name: &str) -> String {
        format!("{endpoint}{name}/")
    }

    /// Writes the records of the minutes `from..from + 60 * minutes` (`from` rounded down to a minute) of every
    /// enabled flow log in `flow_logs`, unless paused or already written.
    pub(crate) async fn deliver(
        &mut self,
        flow_logs: &[FlowLog],
        from: u64,
        minutes: u32,
    ) -> Result<DeliveryReport, String> {
        let (Some(endpoint), Some(client)) = (self.endpoint.clone(), self.client.clone()) else {
            return Err("no storage endpoint: start flowlog-sim with --storage-endpoint".into());
        };
        let token = jwt_shaped(3600, STORAGE_AUDIENCE, "network-watcher", &self.tenant, SystemTime::now());
        let mut report = DeliveryReport::default();
        let first = from - from % 60;
        for minute in (0..u64::from(minutes)).map(|i| first + 60 * i) {
            for flow_log in flow_logs {
                let id = flow_log.id.clone().unwrap_or_default();
                let props = &flow_log.properties;
                let skip = |reason: &str| Skipped { flow_log: id.clone(), minute, reason: reason.into() };
                if !props.enabled.unwrap_or(false) {
                    continue;
                }
                let Some(account) = account_name(&props.storage_id) else {
                    report.skipped.push(skip("no storage account"));
                    continue;
                };
                if self.paused.storage_accounts.contains(&account) {
                    report.skipped.push(skip("delivery to the storage account is paused"));
                    continue;
                }
                if self.paused.flow_logs.contains(&id.to_ascii_lowercase()) {
                    report.skipped.push(skip("delivery of the flow log is paused"));
                    continue;
                }
                let key = (id.to_ascii_lowercase(), minute);
                if self.written.contains(&key) {
                    report.skipped.push(skip("already written"));
                    continue;
                }
                let version = props.format.as_ref().map_or(1, |f| f.version.clamp(1, 2) as u32);
                let source =
                    FlowLogSource { flow_log_id: id.clone(), target_id: props.target_resource_id.clone(), version };
                let record = source.record(minute, self.seed);
                let (container, blob) = (source.container(), source.blob_name(minute));
                let account_url = Delivery::blob_endpoint(&endpoint, &account);
                if self.containers.insert(format!("{account}/{container}")) {
                    create_container(&client, &token, &format!("{account_url}{container}")).await?;
                }
                let url = format!("{account_url}{container}/{blob}");
                let blocks = self.blobs.entry(url.clone()).or_default();
                let first_record = blocks.is_empty();
                if first_record {
                    let id = block_id(0);
                    put_block(&client, &token, &url, &id, OPENING_BLOCK.as_bytes().to_vec()).await?;
                    blocks.push(id);
                    let closing = block_id(999_999);
                    put_block(&client, &token, &url, &closing, CLOSING_BLOCK.as_bytes().to_vec()).await?;
                    blocks.push(closing);
                }
                let id = block_id(blocks.len() - 1);
                put_block(&client, &token, &url, &id, record_block(&record, first_record).into_bytes()).await?;
                let closing = blocks.pop().unwrap_or_default();
                blocks.push(id);
                blocks.push(closing);
                put_block_list(&client, &token, &url, blocks).await?;
                // Only now: a minute whose write failed is written again when asked again.
                self.written.insert(key);
                report.written.push(Delivered {
                    flow_log: id_of(flow_log),
                    storage_account: account,
                    container: container.into(),
                    blob,
                    minute,
                    record,
                });
            }
        }
        Ok(report)
    }
}

/// What [`Delivery::deliver`] would write for the minutes `from..from + 60 * minutes` of the enabled flow logs in
/// `flow_logs`, with `seed`, without writing anything (nothing is paused or remembered): for the demo, and for a
/// reader that wants to know what to expect.
pub(crate) fn preview(flow_logs: &[FlowLog], from: u64, minutes: u32, seed: u64) -> Vec<Delivered> {
    let first = from - from % 60;
    let mut out = Vec::new();
    for minute in (0..u64::from(minutes)).map(|i| first + 60 * i) {
        for flow_log in flow_logs.iter().filter(|f| f.properties.enabled.unwrap_or(false)) {
            let props = &flow_log.properties;
            let Some(account) = account_name(&props.storage_id) else { continue };
            let version = props.format.as_ref().map_or(1, |f| f.version.clamp(1, 2) as u32);
            let source =
                FlowLogSource { flow_log_id: id_of(flow_log), target_id: props.target_resource_id.clone(), version };
            out.push(Delivered {
                flow_log: id_of(flow_log),
                storage_account: account,
                container: source.container().into(),
                blob: source.blob_name(minute),
                minute,
                record: source.record(minute, seed),
            });
        }
    }
    out
}

fn id_of(flow_log: &FlowLog) -> String {
    flow_log.id.clone().unwrap_or_default()
}

/// The account name of a storage account ID (`…/providers/Microsoft.Storage/storageAccounts/{name}`), lower-cased.
fn account_name(storage_id: &str) -> Option<String> {
    let (head, name) = storage_id.rsplit_once('/')?;
    let ok = head.to_ascii_lowercase().ends_with("/providers/microsoft.storage/storageaccounts") && !name.is_empty();
    ok.then(|| name.to_ascii_lowercase())
}

/// Block IDs: base64 of a fixed-width number (a blob's IDs must all have one length).
fn block_id(n: usize) -> String {
    super::auth::base64_standard(format!("block-{n:06}").as_bytes())
}

/// The current minute (Unix seconds).
pub(crate) fn this_minute() -> u64 {
    let now = unix_seconds(SystemTime::now());
    now - now % 60
}

async fn send(request: reqwest::RequestBuilder, what: &str, url: &str, ok: &[u16]) -> Result<(), String> {
    let response = request.send().await.map_err(|e| format!("{what} {url}: {e}"))?;
    let status = response.status().as_u16();
    if ok.contains(&status) {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    let code = body.split("<Code>").nth(1).and_then(|s| s.split("</Code>").next()).unwrap_or("");
    Err(format!("{what} {url}: storage answered {status} {code}"))
}

fn authorized(request: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
    request.bearer_auth(token).header("x-ms-version", STORAGE_VERSION)
}

async fn create_container(client: &reqwest::Client, token: &str, url: &str) -> Result<(), String> {
    let request = authorized(client.put(format!("{url}?restype=container")), token);
    // 409 ContainerAlreadyExists: made before (by an earlier run, or Network Watcher's other flow logs).
    send(request, "creating container", url, &[201, 409]).await
}

async fn put_block(client: &reqwest::Client, token: &str, url: &str, id: &str, bytes: Vec<u8>) -> Result<(), String> {
    let request = authorized(client.put(url), token).query(&[("comp", "block"), ("blockid", id)]).body(bytes);
    send(request, "putting a block of", url, &[201]).await
}

async fn put_block_list(client: &reqwest::Client, token: &str, url: &str, ids: &[String]) -> Result<(), String> {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    for id in ids {
        xml.push_str(&format!("<Latest>{id}</Latest>"));
    }
    xml.push_str("</BlockList>");
    let request = authorized(client.put(url), token)
        .query(&[("comp", "blocklist")])
        .header("content-type", "application/xml")
        .header("x-ms-blob-content-type", "application/json")
        .body(xml);
    send(request, "committing the blocks of", url, &[201]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_come_from_storage_ids() {
        let id = "/subscriptions/s/resourceGroups/logging-rg/providers/Microsoft.Storage/storageAccounts/FlowLogs1";
        assert_eq!(account_name(id).as_deref(), Some("flowlogs1"));
        assert_eq!(account_name(""), None);
        assert_eq!(account_name("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/x/y"), None);
    }

    #[test]
    fn block_ids_have_one_length() {
        assert_eq!(block_id(0).len(), block_id(999_999).len());
        assert_ne!(block_id(1), block_id(2));
    }
}
