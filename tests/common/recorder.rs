//! An [`ArmObserver`] that records what the client reports: every request with its status, every wait.

use std::sync::Mutex;
use std::time::Duration;

use flowlog_operator::azure::ArmObserver;

#[derive(Default)]
pub struct Recorder {
    requests: Mutex<Vec<(String, u16)>>,
    throttled: Mutex<Vec<(String, Duration)>>,
}

impl ArmObserver for Recorder {
    fn request(&self, operation: &str, status: u16, _elapsed: Duration) {
        self.requests.lock().unwrap().push((operation.to_string(), status));
    }
    fn throttled(&self, subscription: &str, waited: Duration) {
        self.throttled.lock().unwrap().push((subscription.to_string(), waited));
    }
}

impl Recorder {
    /// Every request as (operation, status), token requests included, oldest first.
    pub fn requests(&self) -> Vec<(String, u16)> {
        self.requests.lock().unwrap().clone()
    }

    /// The operations of the ARM requests (token requests left out), oldest first.
    pub fn operations(&self) -> Vec<String> {
        self.requests().into_iter().map(|(op, _)| op).filter(|op| op != "token").collect()
    }

    /// The statuses `operation` was answered with, oldest first.
    pub fn statuses(&self, operation: &str) -> Vec<u16> {
        self.requests().into_iter().filter(|(op, _)| op == operation).map(|(_, s)| s).collect()
    }

    /// Every wait as (subscription, how long), oldest first.
    pub fn throttled(&self) -> Vec<(String, Duration)> {
        self.throttled.lock().unwrap().clone()
    }

    /// How long each wait was, oldest first.
    pub fn waits(&self) -> Vec<Duration> {
        self.throttled().into_iter().map(|(_, waited)| waited).collect()
    }
}
