//! The fault campaign's two operator replicas (the shipped binary): started, restarted under the same name and port
//! (each run logging to its own file), SIGKILLed or SIGTERMed, restarted when they exit by themselves, and which one
//! leads, from their metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::operator_command;

/// One of the two replicas: restarted under the same name and port, each run logging to its own file.
pub struct Replica {
    pub port: u16,
    pub child: Option<tokio::process::Child>,
    pub runs: u32,
    pub name: &'static str,
}

/// Two replicas of `flowlog-operator run` in `namespace` (leader election with a 4 s Lease, credentials Secrets
/// allowed), against the simulator at `sim_url` and the apiserver of `kubeconfig`, signing in with `secret`.
pub struct Operators {
    pub replicas: [Replica; 2],
    pub namespace: String,
    pub sim_url: String,
    pub kubeconfig: std::path::PathBuf,
    pub logs: std::path::PathBuf,
    pub secret: String,
    /// The last metrics text of every run of every replica (for figures and greps).
    pub metrics: Arc<Mutex<BTreeMap<(usize, u32), String>>>,
    /// The run of each replica now, for the scraper.
    pub runs: Arc<Mutex<[u32; 2]>>,
    /// Runs that exited on their own (a leader that cannot renew its Lease exits), restarted as a kubelet would.
    pub exited: u32,
}

impl Operators {
    /// Starts (another run of) replica `r`.
    pub fn start(&mut self, r: usize) {
        let replica = &mut self.replicas[r];
        replica.runs += 1;
        let log = self.logs.join(format!("{}-{}.log", replica.name, replica.runs));
        let mut command = operator_command(&self.sim_url, &self.namespace, &log);
        command
            .env("KUBECONFIG", &self.kubeconfig)
            .env("AZURE_CLIENT_SECRET", &self.secret)
            .args(["--lease-namespace", &self.namespace, "--lease-duration", "4s", "--lease-grace", "1s"])
            .args(["--allow-credentials-ref", "true", "--metrics-addr", &format!("127.0.0.1:{}", replica.port)]);
        replica.child = Some(command.spawn().unwrap());
        self.runs.lock().unwrap()[r] = replica.runs;
    }

    /// Restarts the replicas whose process ended by itself.
    pub fn reap(&mut self) {
        for r in 0..2 {
            let ended = self.replicas[r].child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_some());
            if ended {
                self.exited += 1;
                self.start(r);
            }
        }
    }

    /// The replica that leads now (waits up to 15 s for one).
    pub async fn leader(&self) -> Option<usize> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            for (r, replica) in self.replicas.iter().enumerate() {
                if replica.child.is_some() && metric(replica.port, "flowlog_leader").await == Some(1.0) {
                    return Some(r);
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        None
    }

    /// Ends replica `r`: SIGKILL (`kill`) or SIGTERM; it stays down until started again.
    pub async fn signal(&mut self, r: usize, kill: bool) {
        let Some(mut child) = self.replicas[r].child.take() else { return };
        if kill {
            let _ = child.start_kill();
        } else {
            let pid = child.id().unwrap().to_string();
            let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
    }
}

/// The metrics endpoint's text on `port`.
pub async fn metrics_text(port: u16) -> Option<String> {
    reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.ok()?.text().await.ok()
}

/// The sum of `name`'s samples on the metrics endpoint on `port`.
pub async fn metric(port: u16, name: &str) -> Option<f64> {
    let text = metrics_text(port).await?;
    let values = text.lines().filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']));
    Some(values.filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum())
}
