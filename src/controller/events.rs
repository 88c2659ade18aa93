//! Publishes `events.k8s.io/v1` Events. Repeats of one event (same object, type, reason, action) within six minutes
//! become a series on the first (`series.count`), as client-go's recorder does. What is remembered for that is small
//! (a hash, the Event's name, a count and a time per series) and forgotten after six minutes, so the memory it takes
//! follows the events of the last minutes, not the number of policies that ever had one.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Api, Client};
use serde_json::json;

/// How long a repeat joins the series of the event before it (client-go's isomorphic-event window).
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// A series: the Event that started it, how many times it happened, and when last.
struct Series {
    namespace: String,
    name: String,
    count: i32,
    last: Timestamp,
}

pub(super) struct Events {
    client: Client,
    controller: String,
    instance: String,
    series: Mutex<Recent>,
}

#[derive(Default)]
struct Recent {
    by_key: HashMap<u64, Series>,
    swept: Option<Timestamp>,
}

impl Recent {
    /// Drops the series older than the window (at most every 30 s), giving their memory back when most are gone.
    fn sweep(&mut self, now: Timestamp) {
        if self.swept.is_some_and(|t| now.duration_since(t) < SignedDuration::from_secs(30)) {
            return;
        }
        self.swept = Some(now);
        self.by_key.retain(|_, s| now.duration_since(s.last) < SERIES_WINDOW);
        if self.by_key.capacity() > 64 && self.by_key.len() < self.by_key.capacity() / 4 {
            self.by_key.shrink_to_fit();
        }
    }
}

impl Events {
    pub(super) fn new(client: Client, controller: &str, instance: Option<String>) -> Self {
        Self {
            client,
            controller: controller.to_string(),
            instance: instance.unwrap_or_else(|| controller.to_string()),
            series: Mutex::default(),
        }
    }

    /// Publishes an event about `regarding`: a new Event, or the next count of a recent one's series.
    pub(super) async fn publish(
        &self,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: &str,
    ) -> Result<(), kube::Error> {
        let namespace = regarding.namespace.clone().unwrap_or_else(|| "default".into());
        let now = Timestamp::now();
        let key = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (&regarding.uid, &namespace, &regarding.name, type_ == EventType::Warning, reason, action).hash(&mut h);
            h.finish()
        };
        let events: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let repeat = {
            let mut recent = self.series.lock().expect("not poisoned");
            recent.sweep(now);
            recent
                .by_key
                .get_mut(&key)
                .filter(|s| now.duration_since(s.last) < SERIES_WINDOW && s.namespace == namespace)
                .map(|s| {
                    s.count += 1;
                    s.last = now;
                    (s.name.clone(), s.count)
                })
        };
        if let Some((name, count)) = repeat {
            let patch = json!({ "series": EventSeries { count, last_observed_time: MicroTime(now) } });
            match events.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => return Ok(()),
                // The Event expired (or was deleted): start a new series.
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let name = format!("{}.{:x}", regarding.name.as_deref().unwrap_or(&self.controller), now.as_nanosecond());
        let event = Event {
            metadata: ObjectMeta { name: Some(name.clone()), namespace: Some(namespace.clone()), ..Default::default() },
            action: Some(action.to_string()),
            reason: Some(reason.to_string()),
            note: Some(note.to_string()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(match type_ {
                EventType::Normal => "Normal".into(),
                EventType::Warning => "Warning".into(),
            }),
            ..Default::default()
        };
        events.create(&PostParams::default(), &event).await?;
        self.series.lock().expect("not poisoned").by_key.insert(key, Series { namespace, name, count: 1, last: now });
        Ok(())
    }
}
