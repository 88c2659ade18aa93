//! `flowlog-sim`: serves the Network Watcher simulator over HTTP (ARM endpoint, token authority, IMDS, admin API).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use flowlog_simulator::{Inventory, Simulator};

/// An ARM-faithful Azure Network Watcher simulator: try flowlog-operator without an Azure account.
#[derive(Parser)]
#[command(name = "flowlog-sim", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8480")]
    listen: SocketAddr,
    /// Inventory YAML (subscriptions, watchers, NSGs, storage accounts, service principals). Default: the
    /// built-in inventory (see --print-inventory).
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// Print the inventory as YAML and exit.
    #[arg(long)]
    print_inventory: bool,
    /// Deliver enabled flow logs' PT1H.json blobs to this Blob service (https, path-style, e.g. Azurite's
    /// https://127.0.0.1:10000/); storage accounts then show {endpoint}{name}/ as their blob endpoint.
    #[arg(long)]
    storage_endpoint: Option<url::Url>,
    /// PEM file of a CA to trust for --storage-endpoint, besides the system's.
    #[arg(long, requires = "storage_endpoint")]
    storage_ca_file: Option<PathBuf>,
    /// Seed of the delivered flow records (the same seed writes the same flows).
    #[arg(long, default_value_t = 1, requires = "storage_endpoint")]
    delivery_seed: u64,
    /// Deliver the current minute's records every this many seconds (0: only when POST /_sim/delivery/deliver asks).
    #[arg(long, default_value_t = 0, requires = "storage_endpoint")]
    deliver_every: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let inventory = match &args.inventory {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Inventory::from_yaml(&text).with_context(|| format!("inventory {}", path.display()))?
        }
        None => Inventory::builtin(),
    };
    if args.print_inventory {
        print!("{}", inventory.to_yaml());
        return Ok(());
    }
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    eprintln!("Network Watcher simulator listening on http://{addr}");
    eprintln!("  ARM endpoint and authority host: http://{addr}/   admin API: http://{addr}/_sim/");
    let simulator = Simulator::new(inventory);
    if let Some(endpoint) = args.storage_endpoint {
        let ca = match &args.storage_ca_file {
            Some(path) => Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?),
            None => None,
        };
        simulator
            .set_storage_endpoint(endpoint.clone(), ca.as_deref(), args.delivery_seed)
            .await
            .map_err(anyhow::Error::msg)?;
        eprintln!("  flow logs delivered to {endpoint}");
        if args.deliver_every > 0 {
            let (sim, every) = (simulator.clone(), std::time::Duration::from_secs(args.deliver_every));
            tokio::spawn(async move {
                loop {
                    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                    if let Err(e) = sim.deliver(now.as_secs(), 1).await {
                        tracing::warn!(error = %e, "flow-log delivery failed");
                    }
                    tokio::time::sleep(every).await;
                }
            });
        }
    }
    simulator.serve(listener).await.context("serving")
}
