//! `flowlog-operator sim`: the simulator is not part of the operator's binary; this says where it is.

/// Accepts whatever was meant for the simulator, so that old scripts get the pointer rather than a usage error.
#[derive(clap::Args)]
pub struct Args {
    /// Ignored: the simulator's own binary takes these (`flowlog-sim --help`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub rest: Vec<String>,
}

/// Where the simulator is, for `flowlog-operator sim` (stderr; the command fails, since nothing was served).
pub const WHERE: &str = "\
The Network Watcher simulator is not part of the operator's binary (the image ships only the operator).
It is its own binary, `flowlog-sim`, in the `flowlog-simulator` package (folder simulator/ of the source):
  cargo run -p flowlog-simulator -- --listen 127.0.0.1:8480      # serve it
  cargo run -p flowlog-simulator -- --print-inventory            # its built-in inventory
  cargo run --features demo -- demo                              # the operator at work against it, in-process
Documentation: simulator/README.md";

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("{WHERE}")
}
