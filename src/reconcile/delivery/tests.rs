use super::*;

const ACCOUNT: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/flowlogs1";
const CONTAINER: &str = "insights-logs-networksecuritygroupflowevent";
const BLOB: &str = "resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WEB/y=2026/m=12/d=02/h=09/m=00/macAddress=000D3A000001/PT1H.json";
const SILENCE: Duration = Duration::from_secs(7200);
const HOUR: Duration = Duration::from_secs(3600);

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_796_000_000 + secs).unwrap()
}

fn place() -> Place<'static> {
    Place { storage_id: ACCOUNT, container: CONTAINER }
}

fn newest(secs: i64) -> Found {
    Found::Newest { name: BLOB.into(), modified: at(secs) }
}

/// The status after writing `a` over `previous`.
fn written(previous: Option<&FlowLogPolicyStatus>, a: &Assessment) -> FlowLogPolicyStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.logs = Some(a.logs.clone());
    status.conditions.retain(|c| c.type_ != LOGS_DELIVERED);
    status.conditions.push(a.condition.clone());
    status
}

#[test]
fn a_recent_blob_is_delivery_with_its_folder_and_last_write() {
    let a = assess(None, place(), &newest(0), at(300), SILENCE).unwrap();
    assert_eq!(a.condition.status, "True");
    assert_eq!(a.condition.reason, reason::LOGS_ARRIVING);
    assert_eq!(a.logs.last_write, Some(Time(at(0))));
    assert_eq!(
        a.logs.prefix.as_deref(),
        Some("resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WEB/")
    );
    assert_eq!(a.logs.container, CONTAINER);
    assert_eq!(a.age, Some(300.0));
    assert!(a.condition.message.contains("flowlogs1/insights-logs"), "{}", a.condition.message);
    assert!(needs_write(None, &a, HOUR));
    assert_eq!(event(None, &a.condition), None, "arriving from the start is no news");
}

#[test]
fn silence_longer_than_allowed_is_no_recent_logs_with_a_warning_once() {
    let ok = assess(None, place(), &newest(0), at(60), SILENCE).unwrap();
    let s1 = written(None, &ok);
    // Just within the silence: still arriving, nothing to write (lastWrite did not move).
    let still = assess(Some(&s1), place(), &newest(0), at(7200), SILENCE).unwrap();
    assert_eq!(still.condition, ok.condition, "same state, same message, same transition time");
    assert!(!needs_write(Some(&s1), &still, HOUR));
    let late = assess(Some(&s1), place(), &newest(0), at(7201), SILENCE).unwrap();
    assert_eq!((late.condition.status.as_str(), late.condition.reason.as_str()), ("False", reason::NO_RECENT_LOGS));
    assert_eq!(late.condition.last_transition_time, Time(at(7201)));
    assert!(late.condition.message.contains("more than 2h"), "{}", late.condition.message);
    assert!(needs_write(Some(&s1), &late, HOUR));
    let (kind, why, _) = event(Some(&s1), &late.condition).unwrap();
    assert_eq!((kind, why.as_str()), (EventType::Warning, reason::NO_RECENT_LOGS));
    let s2 = written(Some(&s1), &late);
    // Later checks of the same silence: same condition (the message names the same blob and time), no write, no event.
    let later = assess(Some(&s2), place(), &newest(0), at(20_000), SILENCE).unwrap();
    assert_eq!(later.condition, late.condition);
    assert!(!needs_write(Some(&s2), &later, HOUR));
    assert_eq!(event(Some(&s2), &later.condition), None);
    // Logs again: True, a Normal event, a write.
    let back = assess(Some(&s2), place(), &newest(20_100), at(20_160), SILENCE).unwrap();
    assert_eq!(back.condition.status, "True");
    assert!(needs_write(Some(&s2), &back, HOUR));
    let (kind, why, _) = event(Some(&s2), &back.condition).unwrap();
    assert_eq!((kind, why.as_str()), (EventType::Normal, reason::LOGS_DELIVERED));
}

#[test]
fn last_write_moves_in_status_once_per_heartbeat() {
    let s1 = written(None, &assess(None, place(), &newest(0), at(30), SILENCE).unwrap());
    for minute in 1..60 {
        let a = assess(Some(&s1), place(), &newest(minute * 60), at(minute * 60 + 20), SILENCE).unwrap();
        assert!(!needs_write(Some(&s1), &a, HOUR), "minute {minute}: Azure appends every minute; status stays");
    }
    let a = assess(Some(&s1), place(), &newest(3600), at(3620), SILENCE).unwrap();
    assert!(needs_write(Some(&s1), &a, HOUR), "an hour on: lastWrite is rewritten");
    assert_eq!(a.logs.last_write, Some(Time(at(3600))));
    // A new folder (another blob path form, another NIC) is written at once.
    let other = Found::Newest { name: BLOB.replace("/WEB/", "/API/"), modified: at(120) };
    let a = assess(Some(&s1), place(), &other, at(130), SILENCE).unwrap();
    assert!(needs_write(Some(&s1), &a, HOUR));
}

#[test]
fn no_blob_waits_for_the_silence_then_is_no_recent_logs() {
    let first = assess(None, place(), &Found::Nothing, at(0), SILENCE).unwrap();
    assert_eq!((first.condition.status.as_str(), first.condition.reason.as_str()), ("Unknown", reason::AWAITING_LOGS));
    assert_eq!(first.logs.last_write, None);
    assert_eq!(event(None, &first.condition), None);
    let s1 = written(None, &first);
    let waiting = assess(Some(&s1), place(), &Found::Nothing, at(7000), SILENCE).unwrap();
    assert_eq!(waiting.condition, first.condition);
    assert!(!needs_write(Some(&s1), &waiting, HOUR));
    let late = assess(Some(&s1), place(), &Found::Nothing, at(7300), SILENCE).unwrap();
    assert_eq!(late.condition.reason, reason::NO_RECENT_LOGS);
    assert!(late.condition.message.contains("more than 2h of looking"), "{}", late.condition.message);
    assert_eq!(event(Some(&s1), &late.condition).unwrap().1, reason::NO_RECENT_LOGS);
    let s2 = written(Some(&s1), &late);
    let later = assess(Some(&s2), place(), &Found::Nothing, at(9000), SILENCE).unwrap();
    assert!(!needs_write(Some(&s2), &later, HOUR), "same condition, same message: nothing to write");
    // Another storage account starts the wait again.
    let moved = Place {
        storage_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/b",
        ..place()
    };
    let a = assess(Some(&s2), moved, &Found::Nothing, at(9000), SILENCE).unwrap();
    assert_eq!(a.condition.reason, reason::AWAITING_LOGS);
    assert_eq!(a.logs.prefix, None);
}

#[test]
fn unreadable_containers_are_unknown_and_transient_failures_change_nothing() {
    let transient = Found::Unreadable { message: "503 ServerBusy".into(), transient: true };
    let refused = Found::Unreadable { message: "403 AuthorizationPermissionMismatch".into(), transient: false };
    let first = assess(None, place(), &transient, at(0), SILENCE).unwrap();
    assert_eq!(
        (first.condition.status.as_str(), first.condition.reason.as_str()),
        ("Unknown", reason::LOGS_UNREADABLE)
    );
    let s1 = written(None, &assess(None, place(), &newest(0), at(10), SILENCE).unwrap());
    assert_eq!(assess(Some(&s1), place(), &transient, at(20), SILENCE), None, "a 503 keeps what status says");
    let a = assess(Some(&s1), place(), &refused, at(20), SILENCE).unwrap();
    assert_eq!(a.condition.reason, reason::LOGS_UNREADABLE);
    assert!(a.condition.message.contains("Storage Blob Data Reader"), "{}", a.condition.message);
    assert_eq!(a.logs.last_write, Some(Time(at(0))), "what was found before stays");
    assert_eq!(event(Some(&s1), &a.condition).unwrap().0, EventType::Warning);
    let s2 = written(Some(&s1), &a);
    assert!(!needs_write(Some(&s2), &assess(Some(&s2), place(), &refused, at(90), SILENCE).unwrap(), HOUR));
    let back = assess(Some(&s2), place(), &newest(100), at(120), SILENCE).unwrap();
    assert_eq!(event(Some(&s2), &back.condition).unwrap().1, reason::LOGS_DELIVERED);
}

#[test]
fn folders_in_each_documented_form() {
    assert_eq!(
        folder("flowLogResourceID=/S_RG/NW_FL/y=2026/m=12/d=02/h=09/m=00/macAddress=X/PT1H.json"),
        "flowLogResourceID=/S_RG/NW_FL/"
    );
    assert_eq!(folder(BLOB).matches("/y=").count(), 0);
    assert_eq!(folder("a/b/PT1H.json"), "a/b/");
    assert_eq!(duration_text(SILENCE), "2h");
    assert_eq!(duration_text(Duration::from_secs(90)), "90s");
    assert_eq!(duration_text(Duration::from_secs(600)), "10m");
}
