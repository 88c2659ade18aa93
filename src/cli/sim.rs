use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::simulator::{Inventory, Simulator};

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8480")]
    pub listen: SocketAddr,
    /// Inventory YAML (subscriptions, watchers, NSGs, storage accounts, service principals). Default: the
    /// built-in inventory (see --print-inventory).
    #[arg(long)]
    pub inventory: Option<PathBuf>,
    /// Print the inventory as YAML and exit.
    #[arg(long)]
    pub print_inventory: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
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
    Simulator::new(inventory).serve(listener).await.context("serving")
}
