//! The simulator served in this process on a fixed port that can be stopped and started again with its state kept
//! (a restart as the operator sees it: connections reset, then refused, then a server that knows everything it
//! knew). Each incarnation runs on its own runtime, whose shutdown ends its listener and every connection task.

use std::net::SocketAddr;

use flowlog_simulator::Simulator;

pub struct SimServer {
    pub sim: Simulator,
    pub url: String,
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl SimServer {
    /// Serves `sim` on a free port of 127.0.0.1.
    pub fn start(sim: Simulator) -> SimServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = listener.local_addr().unwrap();
        let mut server = SimServer { sim, url: format!("http://{addr}"), addr, runtime: None };
        server.serve(listener);
        server
    }

    fn serve(&mut self, listener: std::net::TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a runtime");
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener).unwrap()
        };
        let sim = self.sim.clone();
        runtime.spawn(async move {
            let _ = sim.serve(listener).await;
        });
        self.runtime = Some(runtime);
    }

    pub fn running(&self) -> bool {
        self.runtime.is_some()
    }

    /// Stops serving: the listener closes and every open connection is dropped. The state stays.
    pub fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// Serves again on the same port (retried for a while: the port is free once the old runtime has let go).
    pub async fn restart(&mut self) {
        self.stop();
        let started = std::time::Instant::now();
        let listener = loop {
            match std::net::TcpListener::bind(self.addr) {
                Ok(listener) => break listener,
                Err(e) if started.elapsed() < std::time::Duration::from_secs(10) => {
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot bind {} again: {e}", self.addr),
            }
        };
        self.serve(listener);
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.stop();
    }
}
