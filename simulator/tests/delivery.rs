//! Flow-log delivery into a real Blob service: Azurite, which `tests/run.sh` starts (HTTPS with a test CA, OAuth) and
//! names in `FLOWLOG_AZURITE_ENDPOINT` and `FLOWLOG_AZURITE_CA`. What the simulator reports as written is what a
//! reader finds, in Network Watcher's layout and block pattern; the storage account's ARM read names the endpoint;
//! pausing a storage account or a flow log stops its blobs from growing, resuming lets them grow again.

mod common;

use common::{SUB, Sim};
use flowlog_simulator::{DeliveryReport, Inventory};
use reqwest::StatusCode;
use serde_json::{Value, json};

// 2024-06-01T09:07:00Z: long before any test runs, so that no blob of these tests is one `--deliver-every` writes now.
const MINUTE: u64 = 1_717_232_820;

struct Storage {
    endpoint: url::Url,
    http: reqwest::Client,
    token: String,
}

/// `2024-06-01T09:07:13.0000000Z` → the Unix seconds of its minute.
fn unix_minute(time: &str) -> u64 {
    let n = |range: std::ops::Range<usize>| time[range].parse::<i64>().unwrap();
    let (y, m, d, h, mi) = (n(0..4), n(5..7), n(8..10), n(11..13), n(14..16));
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    (days * 86_400 + h * 3600 + mi * 60) as u64
}

impl Storage {
    /// The names of `container`'s blobs that start with `prefix` (one page is enough here).
    async fn list(&self, account: &str, container: &str, prefix: &str) -> Vec<String> {
        let url = format!("{}{account}/{container}", self.endpoint);
        let answer = self
            .http
            .get(url)
            .query(&[("restype", "container"), ("comp", "list"), ("prefix", prefix)])
            .bearer_auth(&self.token)
            .header("x-ms-version", "2021-08-06")
            .send()
            .await
            .unwrap();
        let xml = answer.text().await.unwrap();
        xml.split("<Name>").skip(1).map(|s| s[..s.find("</Name>").unwrap()].to_string()).collect()
    }

    async fn blob(&self, account: &str, container: &str, blob: &str, query: &str) -> (StatusCode, String) {
        let url = format!("{}{account}/{container}/{blob}{query}", self.endpoint);
        let answer =
            self.http.get(url).bearer_auth(&self.token).header("x-ms-version", "2021-08-06").send().await.unwrap();
        (answer.status(), answer.text().await.unwrap())
    }
}

/// The simulator delivering to Azurite with `seed`, and a reader with a storage token from the simulator's own
/// token endpoint (the operator gets its tokens the same way).
async fn start(seed: u64) -> (Sim, Storage) {
    let endpoint = std::env::var("FLOWLOG_AZURITE_ENDPOINT").expect("FLOWLOG_AZURITE_ENDPOINT (tests/run.sh sets it)");
    let ca = std::fs::read(std::env::var("FLOWLOG_AZURITE_CA").expect("FLOWLOG_AZURITE_CA")).unwrap();
    let endpoint = url::Url::parse(&endpoint).unwrap();
    let s = Sim::start(Inventory::builtin()).await;
    s.sim.set_storage_endpoint(endpoint.clone(), Some(&ca), seed).await.unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_merge(reqwest::Certificate::from_pem_bundle(&ca).unwrap())
        .build()
        .unwrap();
    // Storage is reached with a token for its audience, from the simulator's token endpoint.
    let token = s.token_for("https://storage.azure.com/.default").await;
    (s, Storage { endpoint, http, token })
}

async fn deliver(s: &Sim, body: Value) -> DeliveryReport {
    let answer = s.http.post(format!("{}/_sim/delivery/deliver", s.base)).json(&body).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    answer.json().await.unwrap()
}

#[tokio::test]
#[ignore = "needs Azurite: run tests/run.sh"]
async fn blobs_hold_what_the_simulator_says_it_wrote_in_network_watchers_blocks() {
    let (s, storage) = start(11).await;
    // The storage account's ARM read names the Blob service it delivers to.
    let account = s
        .get(&format!(
            "/subscriptions/{SUB}/resourceGroups/logging-rg/providers/Microsoft.Storage/storageAccounts/flowlogsweu001\
             ?api-version=2023-05-01"
        ))
        .await;
    assert_eq!(
        account.body["properties"]["primaryEndpoints"]["blob"],
        json!(format!("{}flowlogsweu001/", storage.endpoint))
    );

    let report = deliver(&s, json!({"from": MINUTE + 30, "minutes": 3})).await;
    // The built-in inventory's enabled flow logs: web-nsg and web-dr-nsg (NSG), shared-vnet (VNet); 3 minutes each.
    assert_eq!(report.written.len(), 9, "{:?}", report.skipped);
    assert!(report.skipped.is_empty());
    let web: Vec<_> = report.written.iter().filter(|w| w.blob.contains("/NETWORKSECURITYGROUPS/WEB-NSG/")).collect();
    assert_eq!(web.iter().map(|w| w.minute).collect::<Vec<_>>(), [MINUTE, MINUTE + 60, MINUTE + 120]);
    assert!(web.iter().all(|w| w.blob == web[0].blob), "one blob per hour");
    assert!(web[0].blob.starts_with(
        "resourceId=/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/APP-PROD-RG/PROVIDERS/\
         MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WEB-NSG/y=2024/m=06/d=01/h=09/m=00/macAddress=000D3A"
    ));
    assert_eq!(web[0].container, "insights-logs-networksecuritygroupflowevent");
    let vnet = report.written.iter().find(|w| w.flow_log.ends_with("/shared-vnet-flowlog")).unwrap();
    assert_eq!(vnet.container, "insights-logs-flowlogflowevent");
    assert!(vnet.blob.starts_with(
        "flowLogResourceID=/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/NETWORKWATCHERRG/\
         PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_WESTEUROPE/FLOWLOGS/SHARED-VNET-FLOWLOG/y=2024/"
    ));

    // The blob is the three records, in order, and was committed as 12 bytes, a block per record, 2 bytes.
    let (status, text) = storage.blob("flowlogsweu001", &web[0].container, &web[0].blob, "").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    let expected: Vec<&Value> = web.iter().map(|w| &w.record).collect();
    assert_eq!(doc["records"].as_array().unwrap().iter().collect::<Vec<_>>(), expected);
    let (_, blocks) = storage.blob("flowlogsweu001", &web[0].container, &web[0].blob, "?comp=blocklist").await;
    let sizes: Vec<usize> =
        blocks.split("<Size>").skip(1).map(|s| s[..s.find('<').unwrap()].parse().unwrap()).collect();
    assert_eq!(sizes.len(), 5, "{blocks}");
    assert_eq!((sizes[0], sizes[4]), (12, 2));

    // The same seed writes the same flows: a second simulator with seed 11 reports the same records.
    let (other, _) = start(11).await;
    let again = other.sim.deliver(MINUTE, 1).await.unwrap();
    let first = |r: &DeliveryReport| r.written.iter().find(|w| w.blob.contains("/WEB-NSG/")).unwrap().record.clone();
    assert_eq!(first(&again), web[0].record);

    // Not twice.
    let twice = deliver(&s, json!({"from": MINUTE, "minutes": 1})).await;
    assert!(twice.written.is_empty());
    assert!(twice.skipped.iter().all(|k| k.reason == "already written"), "{:?}", twice.skipped);
}

#[tokio::test]
#[ignore = "needs Azurite: run tests/run.sh"]
async fn paused_storage_accounts_and_flow_logs_get_nothing_until_resumed() {
    let (s, storage) = start(5).await;
    let pause = |body: Value| {
        let (http, base) = (s.http.clone(), s.base.clone());
        async move {
            let answer = http.put(format!("{base}/_sim/delivery")).json(&body).send().await.unwrap();
            (answer.status(), answer.text().await.unwrap())
        }
    };
    assert_eq!(pause(json!({"paused": true, "storageAccount": "flowlogsweu001"})).await.0, StatusCode::OK);
    let (status, text) = pause(json!({"paused": true})).await;
    assert_eq!((status, text.trim()), (StatusCode::BAD_REQUEST, "name one of storageAccount and flowLog"));

    // A later hour than the other test's, so that each test has blobs of its own.
    let hour = MINUTE + 3600;
    let report = deliver(&s, json!({"from": hour, "minutes": 1})).await;
    let written: Vec<&str> = report.written.iter().map(|w| w.storage_account.as_str()).collect();
    assert_eq!(written, ["flowlogsneu001"], "only the northeurope account gets records");
    assert_eq!(report.skipped.len(), 2);
    assert!(report.skipped.iter().all(|k| k.reason == "delivery to the storage account is paused"));

    // Resumed: the account's flow logs write again; one flow log paused on its own stays silent.
    let shared = report_id(&s, "shared-vnet-flowlog").await;
    pause(json!({"paused": false, "storageAccount": "flowlogsweu001"})).await;
    pause(json!({"paused": true, "flowLog": shared})).await;
    let report = deliver(&s, json!({"from": hour + 60, "minutes": 1})).await;
    assert_eq!(report.written.len(), 2);
    assert!(report.written.iter().all(|w| !w.flow_log.eq_ignore_ascii_case(&shared)));
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].reason, "delivery of the flow log is paused");
    let web = report.written.iter().find(|w| w.blob.contains("/WEB-NSG/")).unwrap();
    let (_, text) = storage.blob("flowlogsweu001", &web.container, &web.blob, "").await;
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["records"].as_array().unwrap(), std::slice::from_ref(&web.record), "nothing from the paused minute");
}

/// The ID of the flow log named `name`, as the admin API shows it.
async fn report_id(s: &Sim, name: &str) -> String {
    s.sim.flow_log_resources().into_iter().find(|f| f.name.as_deref() == Some(name)).and_then(|f| f.id).unwrap()
}

/// `flowlog-sim --deliver-every`: the binary writes the current minute's records on its own, as Network Watcher
/// does, until a storage account is paused.
#[tokio::test]
#[ignore = "needs Azurite: run tests/run.sh"]
async fn the_binary_delivers_every_interval_on_its_own() {
    use tokio::io::AsyncBufReadExt as _;
    let (s, storage) = start(3).await; // for the reader's token; the binary is another simulator
    let ca = std::env::var("FLOWLOG_AZURITE_CA").unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_flowlog-sim"))
        .args(["--listen", "127.0.0.1:0", "--storage-endpoint", storage.endpoint.as_str(), "--storage-ca-file", &ca])
        .args(["--delivery-seed", "3", "--deliver-every", "1"])
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines.next_line().await.unwrap().expect("the simulator says where it listens");
        if let Some(url) = line.strip_prefix("Network Watcher simulator listening on ") {
            break url.to_string();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    // Within seconds a web-nsg blob holds a record of this minute (or the next, should the minute turn meanwhile).
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 60 * 60;
    let prefix = "resourceId=/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/APP-PROD-RG/PROVIDERS/\
                  MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WEB-NSG/";
    let container = "insights-logs-networksecuritygroupflowevent";
    let mut seen = false;
    for _ in 0..50 {
        for name in storage.list("flowlogsweu001", container, prefix).await {
            let (_, text) = storage.blob("flowlogsweu001", container, &name, "").await;
            let doc: Value = serde_json::from_str(&text).unwrap();
            seen |= doc["records"].as_array().unwrap().iter().any(|r| {
                let time = r["time"].as_str().unwrap();
                unix_minute(time) >= since && r["category"] == "NetworkSecurityGroupFlowEvent"
            });
        }
        if seen {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen, "the binary wrote a record of this minute on its own");
    // The binary's admin API pauses it like any simulator's.
    let paused = s
        .http
        .put(format!("{base}/_sim/delivery"))
        .json(&json!({"paused": true, "storageAccount": "flowlogsweu001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), StatusCode::OK);
    let state: Value = reqwest::get(format!("{base}/_sim/delivery")).await.unwrap().json().await.unwrap();
    assert_eq!(state["paused"]["storageAccounts"], json!(["flowlogsweu001"]));
    assert_eq!(state["endpoint"], json!(storage.endpoint.as_str()));
    child.kill().await.unwrap();
}
