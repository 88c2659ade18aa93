//! Delivery health end to end: the controller with `--check-log-delivery` against the real apiserver, the
//! simulator writing flow-log blobs into Azurite (which `tests/run.sh` starts: HTTPS with a test CA, OAuth) and
//! Azurite's own listings. A policy's status shows where its blobs are and their last write; pausing delivery
//! (as a rotated key or a storage firewall would) turns `LogsDelivered` False with `NoRecentLogs` within the silence
//! and a Warning event; resuming turns it True again. The checks cost no ARM request, and the reconcile's status
//! writes and the checker's keep each other's fields.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{SUB, cluster, nsg, spawn_controller_with, storage, wait_for, web_nsg_spec};
use flowlog_operator::api::FlowLogPolicy;
use flowlog_operator::azure::credential::{CachedCredential, ClientSecretCredential, Secret};
use flowlog_operator::azure::storage::{BlobReader, STORAGE_SCOPE};
use flowlog_operator::azure::{BucketSettings, Cloud, http_client_trusting};
use flowlog_operator::controller::metrics::Metrics;
use flowlog_operator::controller::server::Health;
use flowlog_operator::controller::{DeliverySettings, LOGS_MANAGER};
use flowlog_simulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_ID, Inventory, Simulator};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

const CHECK_EVERY: Duration = Duration::from_secs(1);
const SILENCE: Duration = Duration::from_secs(6);
const ACCOUNT: &str = "flowlogsweu001";
const OTHER_ACCOUNT: &str = "flowlogsneu001";

fn logs_delivered(p: &FlowLogPolicy) -> Option<Condition> {
    p.status.as_ref()?.conditions.iter().find(|c| c.type_ == "LogsDelivered").cloned()
}

/// The storage requests the checker made so far.
fn storage_requests(metrics: &Metrics) -> u64 {
    let text = metrics.render(std::iter::empty(), std::iter::empty());
    text.lines()
        .filter(|l| l.starts_with("flowlog_storage_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_follows_delivery_stopping_and_resuming_at_no_arm_cost() {
    let azurite = std::env::var("FLOWLOG_AZURITE_ENDPOINT").expect("FLOWLOG_AZURITE_ENDPOINT (run tests/run.sh)");
    let ca =
        std::fs::read(std::env::var("FLOWLOG_AZURITE_CA").expect("FLOWLOG_AZURITE_CA (run tests/run.sh)")).unwrap();
    let (client, namespace) = cluster("e2e-delivery").await;
    let mut inventory = Inventory::builtin();
    common::sim::quick_operations(&mut inventory);
    let sim = Simulator::new(inventory);
    sim.set_storage_endpoint(azurite.parse().unwrap(), Some(&ca), 7).await.unwrap();
    let base = sim.clone().spawn_local().await.unwrap();

    // The operator's reader: its own principal's token for the storage audience, Azurite's CA trusted, Azurite as
    // the storage origin (path-style endpoints built from the account name).
    let http = http_client_trusting(Some(&ca)).unwrap();
    let authority = url::Url::parse(&format!("{base}/")).unwrap();
    let credential = CachedCredential::new(
        ClientSecretCredential::new(
            http.clone(),
            &authority,
            DEFAULT_TENANT_ID,
            DEFAULT_CLIENT_ID,
            Secret::new(DEFAULT_CLIENT_SECRET),
            STORAGE_SCOPE,
        )
        .unwrap(),
    );
    let cloud = Cloud::custom(authority.clone(), authority, Some("https://management.azure.com/"));
    let reader = BlobReader::new(http, credential, &cloud, Some(azurite.parse().unwrap()));
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::default());
    let controller = spawn_controller_with(&client, &namespace, &base, metrics.clone(), health, |s| {
        s.delivery = Some(DeliverySettings {
            reader,
            every: CHECK_EVERY,
            silence: SILENCE,
            budget: BucketSettings::new(20, 10.0),
        });
    });

    // Network Watcher's part: a minute of records every second (each call appends to the hour's blob) for every
    // enabled flow log whose delivery is not paused.
    let driver = {
        let sim = sim.clone();
        tokio::spawn(async move {
            let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 60 * 60;
            for minute in 0_u64.. {
                sim.deliver(start + minute * 60, 1).await.expect("delivery to Azurite");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };

    // web-nsg and two VNets write to flowlogsweu001 (its two containers), web-dr-nsg to flowlogsneu001.
    let api: Api<FlowLogPolicy> = Api::namespaced(client.clone(), &namespace);
    let vnet = |rg: &str, name: &str| {
        let mut spec = web_nsg_spec(7, "1h");
        spec.target.resource_id =
            format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}");
        spec
    };
    let mut dr = web_nsg_spec(7, "1h");
    dr.target.resource_id = nsg("app-dr-rg", "web-dr-nsg");
    dr.network_watcher.as_mut().unwrap().name = "NetworkWatcher_northeurope".into();
    dr.flow_log.storage_id = Some(storage(OTHER_ACCOUNT));
    for (name, spec) in [
        ("web", web_nsg_spec(7, "1h")),
        ("shared", vnet("shared-net-rg", "shared-vnet")),
        ("app", vnet("app-prod-rg", "app-vnet")),
        ("dr", dr),
    ] {
        api.create(&PostParams::default(), &FlowLogPolicy::new(name, spec)).await.unwrap();
    }
    let arrived = |name: &'static str| {
        let api = api.clone();
        async move {
            wait_for(&format!("{name}: LogsDelivered=True with a last write"), Duration::from_secs(60), || async {
                let p = api.get(name).await.unwrap();
                let c = logs_delivered(&p)?;
                (c.status == "True" && p.status.as_ref()?.logs.as_ref()?.last_write.is_some()).then_some(p)
            })
            .await
        }
    };
    let arriving = arrived("web").await;
    for name in ["shared", "app"] {
        let logs = arrived(name).await.status.unwrap().logs.unwrap();
        assert_eq!(logs.container, "insights-logs-flowlogflowevent", "{name}");
        let prefix = logs.prefix.unwrap();
        assert!(prefix.starts_with("flowLogResourceID=/"), "{name}: {prefix}");
    }
    let logs = arrived("dr").await.status.unwrap().logs.unwrap();
    assert!(logs.storage_id.to_ascii_lowercase().ends_with(OTHER_ACCOUNT), "{logs:?}");
    let status = arriving.status.clone().unwrap();
    let logs = status.logs.clone().unwrap();
    assert_eq!(logs.storage_id.to_ascii_lowercase(), storage(ACCOUNT).to_ascii_lowercase());
    assert_eq!(logs.container, "insights-logs-networksecuritygroupflowevent");
    let prefix = logs.prefix.clone().unwrap();
    assert!(
        prefix.starts_with("resourceId=/SUBSCRIPTIONS/") && prefix.ends_with("/NETWORKSECURITYGROUPS/WEB-NSG/"),
        "{prefix}"
    );
    let age = k8s_openapi::jiff::Timestamp::now().duration_since(logs.last_write.unwrap().0).as_secs_f64();
    assert!(age < 30.0, "the last write is the simulator's recent one, {age}s ago");
    assert!(status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"), "Ready stays the reconcile's");
    let line = metrics.render(std::iter::empty(), std::iter::empty());
    let gauge = line
        .lines()
        .find(|l| l.starts_with("flowlog_logs_last_write_age_seconds{") && l.contains("policy=\"web\""))
        .unwrap_or_else(|| panic!("age gauge for web in:\n{line}"));
    let seconds: f64 = gauge.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(seconds < 30.0, "{gauge}");

    // The checks cost ARM nothing: a window of several checks, not one ARM call (nor token request).
    sim.reset_counters();
    let before = storage_requests(&metrics);
    tokio::time::sleep(CHECK_EVERY * 4).await;
    let listings = storage_requests(&metrics) - before;
    let arm: u64 = sim.counters().values().sum();
    assert!(listings >= 3, "the container was listed {listings} times in 4 s");
    assert_eq!(arm, 0, "ARM calls while checking delivery: {:?}", sim.counters());
    eprintln!("[delivery] 4 s window: {listings} storage listings, {arm} ARM calls");
    // Logs keep arriving: lastWrite is not rewritten at every append (one status write per heartbeat, not per check).
    let rv = api.get("web").await.unwrap().metadata.resource_version;
    tokio::time::sleep(CHECK_EVERY * 3).await;
    assert_eq!(api.get("web").await.unwrap().metadata.resource_version, rv, "no status churn while logs arrive");

    // Delivery to flowlogsweu001 stops (the simulator's pause, as a storage firewall would): False within the
    // silence (and a check), one Warning event; flowlogsneu001's flow log goes on.
    sim.pause_delivery(Some(ACCOUNT), None, true).await;
    let stopped = Instant::now();
    let silent = wait_for("LogsDelivered=False", SILENCE + Duration::from_secs(20), || async {
        let p = api.get("web").await.unwrap();
        let c = logs_delivered(&p)?;
        (c.status == "False").then_some(c)
    })
    .await;
    let took = stopped.elapsed();
    eprintln!(
        "[delivery] LogsDelivered False {:.1} s after delivery stopped (silence {SILENCE:?})",
        took.as_secs_f64()
    );
    assert_eq!(silent.reason, "NoRecentLogs");
    assert!(silent.message.contains(ACCOUNT), "{}", silent.message);
    assert!(took >= SILENCE - Duration::from_secs(2), "False after {took:?}: not before the silence");
    assert!(took <= SILENCE + CHECK_EVERY * 4, "False after {took:?}: within the silence and a check or two");
    let events_of = |name: &'static str, reason: &'static str| {
        let client = client.clone();
        let namespace = namespace.clone();
        async move {
            let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client, &namespace);
            let list = events.list(&Default::default()).await.unwrap();
            list.items
                .into_iter()
                .filter(|e| {
                    e.reason.as_deref() == Some(reason)
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                })
                .map(|e| (e.type_.unwrap_or_default(), e.series.map_or(1, |s| s.count)))
                .collect::<Vec<_>>()
        }
    };
    let events = |reason: &'static str| events_of("web", reason);
    let warned = wait_for("a NoRecentLogs event", Duration::from_secs(10), || async {
        let found = events("NoRecentLogs").await;
        (!found.is_empty()).then_some(found)
    })
    .await;
    assert_eq!(warned, vec![("Warning".to_string(), 1)]);
    for name in ["shared", "app"] {
        let c = wait_for(&format!("{name}: LogsDelivered=False"), Duration::from_secs(10), || async {
            logs_delivered(&api.get(name).await.unwrap()).filter(|c| c.status == "False")
        })
        .await;
        assert_eq!(c.reason, "NoRecentLogs", "{name}");
    }
    for name in ["shared", "app"] {
        let warned = wait_for(&format!("{name}: a NoRecentLogs event"), Duration::from_secs(10), || async {
            let found = events_of(name, "NoRecentLogs").await;
            (!found.is_empty()).then_some(found)
        })
        .await;
        assert_eq!(warned, vec![("Warning".to_string(), 1)], "{name}");
    }
    assert_eq!(events_of("dr", "NoRecentLogs").await, vec![], "dr's account still delivers");
    let dr = logs_delivered(&api.get("dr").await.unwrap()).unwrap();
    assert_eq!((dr.status.as_str(), dr.reason.as_str()), ("True", "LogsArriving"), "another account's flow log");
    // Silence goes on: no more writes, no more events.
    let rv = api.get("web").await.unwrap().metadata.resource_version;
    tokio::time::sleep(CHECK_EVERY * 3).await;
    assert_eq!(api.get("web").await.unwrap().metadata.resource_version, rv, "no status churn while silent");
    assert_eq!(events("NoRecentLogs").await, vec![("Warning".to_string(), 1)]);

    // A reconcile's status write (a new spec applied) keeps the checker's fields, and the checker's keep Ready.
    let patch = json!({"spec": {"flowLog": {"retentionPolicy": {"enabled": true, "days": 9}}}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let applied = wait_for("the new spec applied", Duration::from_secs(30), || async {
        let p = api.get("web").await.unwrap();
        let s = p.status.as_ref()?;
        let ready = s.conditions.iter().find(|c| c.type_ == "Ready")?;
        (s.observed_generation == p.metadata.generation && ready.reason == "Applied").then_some(p)
    })
    .await;
    assert_eq!(logs_delivered(&applied).map(|c| c.reason), Some("NoRecentLogs".into()));
    assert!(applied.status.as_ref().unwrap().logs.is_some());
    let managers: Vec<String> =
        applied.metadata.managed_fields.iter().flatten().filter_map(|m| m.manager.clone()).collect();
    assert!(managers.iter().any(|m| m == LOGS_MANAGER), "{managers:?}");

    // Delivery resumes: True again, a Normal event.
    sim.pause_delivery(Some(ACCOUNT), None, false).await;
    wait_for("LogsDelivered=True again", Duration::from_secs(20), || async {
        let c = logs_delivered(&api.get("web").await.unwrap())?;
        (c.status == "True").then_some(())
    })
    .await;
    let recovered = wait_for("a LogsDelivered event", Duration::from_secs(10), || async {
        let found = events("LogsDelivered").await;
        (!found.is_empty()).then_some(found)
    })
    .await;
    assert_eq!(recovered, vec![("Normal".to_string(), 1)]);
    let ready = api.get("web").await.unwrap();
    assert!(ready.status.unwrap().conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"));

    // Flow log disabled by the spec: nothing to check, the checker's fields go (and its metric series).
    let patch = json!({"spec": {"flowLog": {"enabled": false}}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    wait_for("logs and LogsDelivered cleared", Duration::from_secs(30), || async {
        let p = api.get("web").await.unwrap();
        (p.status.as_ref()?.logs.is_none() && logs_delivered(&p).is_none()).then_some(())
    })
    .await;
    let text = metrics.render(std::iter::empty(), std::iter::empty());
    assert!(!text.contains("policy=\"web\""), "series of an unchecked policy:\n{text}");

    driver.abort();
    controller.abort();
}
