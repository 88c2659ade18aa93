//! A private control plane (etcd + kube-apiserver) for a test that must restart its apiserver: the suite's shared
//! one serves tests running in parallel, which a restart would break. Started by `tests/envtest/start.sh` from the
//! binaries `tests/run.sh` built and cached (`FLOWLOG_ENVTEST_BIN`), stopped by `tests/envtest/stop.sh` when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

pub struct ControlPlane {
    pub dir: PathBuf,
    /// The apiserver's command line, to start it again as it was (same port, same etcd, same certificates).
    apiserver_args: Vec<String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pids(dir: &Path) -> Vec<(String, u32)> {
    let text = std::fs::read_to_string(dir.join("pids")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (name, pid) = l.split_once(' ')?;
            Some((name.to_string(), pid.trim().parse().ok()?))
        })
        .collect()
}

/// Whether `pid` runs (a zombie counts as gone).
fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).is_some_and(|state| state != "Z")
}

impl ControlPlane {
    /// Starts one in a fresh temporary directory (about 3 s).
    pub fn start() -> ControlPlane {
        let dir = tempfile::Builder::new().prefix("flowlog-private-envtest.").tempdir().unwrap().keep();
        let status = Command::new(root().join("tests/envtest/start.sh"))
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("tests/envtest/start.sh runs");
        assert!(status.success(), "the private control plane did not start (logs in {})", dir.display());
        let apiserver = ControlPlane::apiserver_pid_in(&dir);
        let cmdline = std::fs::read(format!("/proc/{apiserver}/cmdline")).unwrap();
        let apiserver_args =
            cmdline.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into()).collect();
        ControlPlane { dir, apiserver_args }
    }

    fn apiserver_pid_in(dir: &Path) -> u32 {
        pids(dir).into_iter().find(|(name, _)| name == "kube-apiserver").expect("an apiserver pid").1
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// A client of this control plane.
    pub async fn client(&self) -> Client {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let kubeconfig = Kubeconfig::read_from(self.kubeconfig()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
        Client::try_from(config).unwrap()
    }

    /// Stops the apiserver (SIGTERM, SIGKILL after 5 s; etcd keeps every object), leaves it down for `down`, then starts it again with
    /// the same command line and waits until it is ready. Returns how long it was unreachable.
    pub async fn restart_apiserver(&mut self, down: Duration) -> Duration {
        let pid = ControlPlane::apiserver_pid_in(&self.dir);
        let stopped = Instant::now();
        let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        // It drains its watches first; after 5 s it is killed, as a kubelet would after its grace period.
        while alive(pid) {
            if stopped.elapsed() > Duration::from_secs(5) {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
            assert!(stopped.elapsed() < Duration::from_secs(30), "the apiserver survived SIGKILL");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(down).await;
        let log = std::fs::OpenOptions::new().append(true).open(self.dir.join("apiserver.log")).unwrap();
        // Not our child for long: its pid goes to the pids file for stop.sh, and tokio reaps it when it exits.
        let child = tokio::process::Command::new(&self.apiserver_args[0])
            .args(&self.apiserver_args[1..])
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the apiserver starts again");
        let new_pid = child.id().unwrap();
        std::mem::forget(child);
        let text = std::fs::read_to_string(self.dir.join("pids")).unwrap();
        let text = text.replace(&format!("kube-apiserver {pid}"), &format!("kube-apiserver {new_pid}"));
        std::fs::write(self.dir.join("pids"), text).unwrap();
        let client = self.client().await;
        loop {
            let ready = client.request_text(http::Request::get("/readyz").body(vec![]).unwrap()).await;
            if ready.is_ok_and(|t| t.trim() == "ok") {
                break;
            }
            assert!(alive(new_pid), "the apiserver exited on restart (see {}/apiserver.log)", self.dir.display());
            assert!(stopped.elapsed() < Duration::from_secs(120), "the apiserver did not become ready again");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        stopped.elapsed()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = Command::new(root().join("tests/envtest/stop.sh"))
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
