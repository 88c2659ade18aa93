//! Whether a flow log's blobs keep arriving: what one listing of its storage account found → `status.logs`, the
//! `LogsDelivered` condition, whether to write them, and the event a transition deserves. Pure: the delivery
//! checker (`controller/delivery.rs`) lists the containers and applies what this returns.
//!
//! Status is written on a transition, a new folder, or once `lastWrite` has moved on by a status heartbeat: Azure
//! appends to the hour's blob every minute, and rewriting the status at each check would be a watch event per
//! policy per check for every GitOps tool. The condition's message stays the same while the state does.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::EventType;

use crate::api::{FlowLogPolicyStatus, LogsStatus};

pub const LOGS_DELIVERED: &str = "LogsDelivered";

/// Stable reasons of `LogsDelivered` (alerts match on them).
pub mod reason {
    /// True: the newest blob was written within the silence allowed.
    pub const LOGS_ARRIVING: &str = "LogsArriving";
    /// False: nothing written for longer than the silence allowed.
    pub const NO_RECENT_LOGS: &str = "NoRecentLogs";
    /// Unknown: no blob yet, for less than the silence allowed since the check first looked.
    pub const AWAITING_LOGS: &str = "AwaitingLogs";
    /// Unknown: the container cannot be listed (a role missing, a firewall).
    pub const LOGS_UNREADABLE: &str = "LogsUnreadable";
    /// The event when logs arrive again after `NoRecentLogs`.
    pub const LOGS_DELIVERED: &str = "LogsDelivered";
}

/// What one listing of the container found for a flow log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// The flow log's newest blob (by last write).
    Newest { name: String, modified: Timestamp },
    /// No blob of the flow log (or no container yet).
    Nothing,
    /// The container could not be listed; `transient` for throttling, 5xx and the network (the state stays as it
    /// was), not for a refusal (a role missing, a firewall).
    Unreadable { message: String, transient: bool },
}

/// Where the flow log's blobs are expected.
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    pub storage_id: &'a str,
    pub container: &'a str,
}

/// What a check concludes for one policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    pub logs: LogsStatus,
    pub condition: Condition,
    /// Seconds since the newest blob was written, for the metric.
    pub age: Option<f64>,
}

/// The policy's `logs` and `LogsDelivered` after a check found `found`; `None` when a transient failure leaves
/// them as they were.
pub fn assess(
    previous: Option<&FlowLogPolicyStatus>,
    place: Place<'_>,
    found: &Found,
    now: Timestamp,
    silence: Duration,
) -> Option<Assessment> {
    let previous_logs = previous.and_then(|s| s.logs.as_ref());
    let previous_condition = previous.and_then(|s| s.conditions.iter().find(|c| c.type_ == LOGS_DELIVERED));
    let same_place = previous_logs.filter(|l| l.storage_id == place.storage_id && l.container == place.container);
    let account = account_name(place.storage_id);
    let silence_text = duration_text(silence);
    let condition = |status: &str, reason: &str, message: String| Condition {
        type_: LOGS_DELIVERED.into(),
        status: status.into(),
        reason: reason.into(),
        message,
        observed_generation: None,
        last_transition_time: Time(now),
    };
    let mut logs = LogsStatus {
        storage_id: place.storage_id.to_string(),
        container: place.container.to_string(),
        prefix: same_place.and_then(|l| l.prefix.clone()),
        last_write: same_place.and_then(|l| l.last_write.clone()),
    };
    let (condition, age) = match found {
        Found::Newest { name, modified } => {
            logs.prefix = Some(folder(name).to_string());
            logs.last_write = Some(Time(*modified));
            let age = now.duration_since(*modified).as_secs_f64().max(0.0);
            let condition = if age <= silence.as_secs_f64() {
                condition(
                    "True",
                    reason::LOGS_ARRIVING,
                    format!(
                        "Flow-log blobs keep arriving in {account}/{}/{} (the newest written within {silence_text}).",
                        place.container,
                        folder(name)
                    ),
                )
            } else {
                condition(
                    "False",
                    reason::NO_RECENT_LOGS,
                    format!(
                        "No flow-log blob written for more than {silence_text}: the newest, {account}/{}/{name}, was \
                         last written at {modified}. Check the storage account's firewall and keys, the container, \
                         and that the flow log is enabled in Azure.",
                        place.container
                    ),
                )
            };
            (condition, Some(age))
        }
        Found::Nothing => {
            // Silent already, or waiting (since the `AwaitingLogs` transition) for longer than the silence.
            let before = previous_condition.filter(|_| same_place.is_some());
            let silent = before.is_some_and(|c| {
                c.reason == reason::NO_RECENT_LOGS
                    || (c.reason == reason::AWAITING_LOGS
                        && now.duration_since(c.last_transition_time.0).as_secs_f64() > silence.as_secs_f64())
            });
            let condition = match silent {
                true => condition(
                    "False",
                    reason::NO_RECENT_LOGS,
                    format!(
                        "No flow-log blob in {account}/{} for more than {silence_text} of looking. Check the storage \
                         account's firewall and keys, and that the flow log is enabled in Azure.",
                        place.container
                    ),
                ),
                false => condition(
                    "Unknown",
                    reason::AWAITING_LOGS,
                    format!(
                        "No flow-log blob in {account}/{} yet; Network Watcher writes the first within minutes of \
                         enabling the flow log.",
                        place.container
                    ),
                ),
            };
            (condition, None)
        }
        Found::Unreadable { transient: true, .. } if previous_condition.is_some() => return None,
        Found::Unreadable { message, .. } => {
            let message = format!(
                "Cannot list {account}/{}: {message}. The operator's identity needs the Storage Blob Data Reader \
                 role on the storage account, and its network must reach the account.",
                place.container
            );
            (condition("Unknown", reason::LOGS_UNREADABLE, message), None)
        }
    };
    // The transition time says when the state changed, not when it was last written.
    let condition = match previous_condition {
        Some(p) if p.status == condition.status && p.reason == condition.reason => {
            Condition { last_transition_time: p.last_transition_time.clone(), ..condition }
        }
        _ => condition,
    };
    Some(Assessment { logs, condition, age })
}

/// Whether `new` must be written over what `previous` holds: on a new condition state or message, a new place
/// or folder, a first `lastWrite`, or one that has moved on by `heartbeat`.
pub fn needs_write(previous: Option<&FlowLogPolicyStatus>, new: &Assessment, heartbeat: Duration) -> bool {
    let previous_logs = previous.and_then(|s| s.logs.as_ref());
    let previous_condition = previous.and_then(|s| s.conditions.iter().find(|c| c.type_ == LOGS_DELIVERED));
    let Some((logs, condition)) = previous_logs.zip(previous_condition) else { return true };
    if condition != &new.condition {
        return true;
    }
    if (&logs.storage_id, &logs.container, &logs.prefix)
        != (&new.logs.storage_id, &new.logs.container, &new.logs.prefix)
    {
        return true;
    }
    match (&logs.last_write, &new.logs.last_write) {
        (None, None) => false,
        (Some(_), None) | (None, Some(_)) => true,
        (Some(old), Some(new)) => new.0.duration_since(old.0).as_secs_f64() >= heartbeat.as_secs_f64(),
    }
}

/// The event for going from `previous` to `new`, if the transition deserves one: a Warning when logs stop
/// arriving or cannot be read, a Normal one when they arrive again.
pub fn event(previous: Option<&FlowLogPolicyStatus>, new: &Condition) -> Option<(EventType, String, String)> {
    let before = previous.and_then(|s| s.conditions.iter().find(|c| c.type_ == LOGS_DELIVERED));
    let was = |reason: &str| before.is_some_and(|c| c.reason == reason);
    match new.reason.as_str() {
        reason::NO_RECENT_LOGS if !was(reason::NO_RECENT_LOGS) => {
            Some((EventType::Warning, reason::NO_RECENT_LOGS.into(), new.message.clone()))
        }
        reason::LOGS_UNREADABLE if !was(reason::LOGS_UNREADABLE) => {
            Some((EventType::Warning, reason::LOGS_UNREADABLE.into(), new.message.clone()))
        }
        reason::LOGS_ARRIVING if was(reason::NO_RECENT_LOGS) || was(reason::LOGS_UNREADABLE) => {
            Some((EventType::Normal, reason::LOGS_DELIVERED.into(), new.message.clone()))
        }
        _ => None,
    }
}

/// A blob's folder: its name up to its `y=` segment (the flow log's part of the path, in whichever form).
pub fn folder(name: &str) -> &str {
    match name.find("/y=") {
        Some(i) => &name[..=i],
        None => name.rfind('/').map_or("", |i| &name[..=i]),
    }
}

/// A storage account ID's last segment: the account name.
pub fn account_name(storage_id: &str) -> &str {
    storage_id.trim_end_matches('/').rsplit('/').next().unwrap_or(storage_id)
}

/// `2h`, `90m`, `45s`: the largest whole unit.
fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    if s > 0 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s > 0 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests;
