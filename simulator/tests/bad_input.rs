//! Bad input where it enters the simulator: every admin route given bodies that are not what it takes (empty, not
//! JSON, the wrong shape, unknown IDs, values out of range, 1 MiB of noise, JSON nested 100,000 deep) answers 4xx
//! with a message and changes nothing; inventories mutated at random (seeded) parse or are refused with a message,
//! never a panic.

mod common;

use common::{API, SUB, Sim};
use flowlog_simulator::Inventory;
use reqwest::Method;
use serde_json::{Value, json};

/// What the admin API shows of the simulator's state.
async fn state(s: &Sim) -> Vec<String> {
    let mut out = Vec::new();
    for path in ["/_sim/inventory", "/_sim/flowLogs", "/_sim/flowLogResources", "/_sim/faults", "/_sim/throttling"] {
        let answer = s.call(Method::GET, path, None, None).await;
        let mut body = answer.body;
        // Buckets refill with time; their configuration is what a bad request could change.
        if let Some(object) = body.as_object_mut() {
            object.remove("buckets");
        }
        out.push(body.to_string());
    }
    out
}

#[tokio::test]
async fn admin_routes_refuse_bad_bodies_and_change_nothing() {
    let s = Sim::builtin().await;
    let before = state(&s).await;
    let nsg =
        format!("/subscriptions/{SUB}/resourceGroups/app-prod-rg/providers/Microsoft.Network/networkSecurityGroups");
    let noise: String = (0..(1 << 20)).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let shapes: Vec<String> = vec![
        String::new(),
        "not json".into(),
        "null".into(),
        "[]".into(),
        "{}".into(),
        r#"{"unknown": 1}"#.into(),
        r#"{"targetResourceId": 5, "properties": "x", "name": [], "subscription": 7}"#.into(),
        noise,
        "[".repeat(100_000),
    ];
    let semantic: Vec<(&str, Value)> = vec![
        (
            "flowLogs",
            json!({"targetResourceId": format!("{nsg}/no-such-nsg"), "properties": {"storageId": "", "enabled": false}}),
        ),
        ("flowLogs", json!({"targetResourceId": "not an id", "properties": {"storageId": "", "enabled": true}})),
        (
            "flowLogResources",
            json!({"id": "/subscriptions/x/flowLogs/y", "properties": {"targetResourceId": "t", "storageId": "s"}}),
        ),
        ("faults", json!([{"operation": "*", "status": 503, "probability": 2.0}])),
        ("faults", json!([{"operation": "*", "status": 99}])),
        ("throttling", json!({"reads": {"capacity": 0, "perSecond": -1}})),
        (
            "virtualNetworks",
            json!({"subscription": SUB, "name": "v", "resourceGroup": "rg", "location": "westeurope", "addressPrefixes": ["10.0.0.0/99"]}),
        ),
        (
            "virtualNetworks",
            json!({"subscription": "no-such-subscription", "name": "v", "resourceGroup": "rg", "location": "westeurope", "addressPrefixes": ["10.0.0.0/16"]}),
        ),
        (
            "networkInterfaces",
            json!({"subscription": SUB, "name": "n", "resourceGroup": "rg", "location": "westeurope", "subnet": {"vnet": "none", "name": "none"}}),
        ),
        (
            "networkSecurityGroups",
            json!({"subscription": SUB, "name": "a/b", "resourceGroup": "rg", "location": "westeurope"}),
        ),
    ];
    let routes = [
        "flowLogs",
        "flowLogResources",
        "faults",
        "throttling",
        "virtualNetworks",
        "networkInterfaces",
        "networkSecurityGroups",
    ];
    let mut answered = 0;
    for route in routes {
        for body in &shapes {
            if (route == "faults" && body == "[]") || (route == "throttling" && body == "{}") {
                continue; // no fault rules; ARM's limits (every field has a default): valid bodies
            }
            let answer = s.call(Method::PUT, &format!("/_sim/{route}"), None, Some(body.clone())).await;
            let shown: String = body.chars().take(40).collect();
            assert!(
                answer.status.is_client_error(),
                "PUT /_sim/{route} with {shown:?}: {} {}",
                answer.status,
                answer.body
            );
            let message = answer.body.as_str().map(str::to_string).unwrap_or_else(|| answer.body.to_string());
            assert!(message.trim().len() > 10, "PUT /_sim/{route} with {shown:?} says why: {message:?}");
            answered += 1;
        }
    }
    for (route, body) in semantic {
        let answer = s.call(Method::PUT, &format!("/_sim/{route}"), None, Some(body.to_string())).await;
        assert!(answer.status.is_client_error(), "PUT /_sim/{route} with {body}: {} {}", answer.status, answer.body);
        answered += 1;
    }
    for kind in ["virtualNetworks", "networkInterfaces", "networkSecurityGroups"] {
        let answer = s.call(Method::DELETE, &format!("/_sim/{kind}/{SUB}/no-such-rg/no-such-name"), None, None).await;
        assert_eq!(answer.status.as_u16(), 404, "{kind}: {}", answer.body);
    }
    assert_eq!(state(&s).await, before, "{answered} refused requests changed nothing");
    // ARM still answers as before.
    let answer = s.get(&format!("{nsg}?{API}")).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
}

/// One random change to an inventory's text: a line dropped, doubled or swapped, a value replaced by one of another
/// type or out of range, or the text cut short.
fn mutate(rng: &mut fastrand::Rng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let i = rng.usize(..lines.len());
    match rng.u8(..6) {
        0 => {
            lines.remove(i);
        }
        1 => lines.insert(i, lines[i].clone()),
        2 => {
            let j = rng.usize(..lines.len());
            lines.swap(i, j);
        }
        3 | 4 => {
            if let Some((key, _)) = lines[i].split_once(": ") {
                let values = [
                    "-1",
                    "null",
                    "[]",
                    "{}",
                    "''",
                    "99999999999999999999",
                    "\"x\"",
                    "true",
                    "1e309",
                    "~",
                    "/",
                    "a\\\\b",
                ];
                lines[i] = format!("{key}: {}", values[rng.usize(..values.len())]);
            }
        }
        _ => lines.truncate(i),
    }
    lines.join("\n")
}

#[test]
fn mutated_inventories_parse_or_are_refused_with_a_message() {
    let builtin = Inventory::builtin().to_yaml();
    let seed = std::env::var("FLOWLOG_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(7u64);
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..400 {
        let mut text = builtin.clone();
        for _ in 0..rng.usize(1..4) {
            text = mutate(&mut rng, &text);
        }
        let result = std::panic::catch_unwind(|| Inventory::from_yaml(&text));
        match result {
            Err(_) => panic!("round {round} (seed {seed}): the inventory parser panicked on:\n{text}"),
            Ok(Ok(_)) => accepted += 1,
            Ok(Err(e)) => {
                assert!(e.to_string().len() > 10, "round {round}: a refusal says why: {e}");
                refused += 1;
            }
        }
    }
    println!("400 mutated inventories (seed {seed}): {accepted} accepted, {refused} refused with a message");
    assert!(refused > 100, "most mutations break the inventory: {refused} refused");
}
