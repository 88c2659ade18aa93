//! The `flowlog-operator` command line: `run` (the operator), `report` (the compliance report), `migrate`, `plan`
//! and `apply` (manifests against Azure, without a cluster), `crd`, `demo` (with the `demo` feature) and `sim` (which
//! says where the simulator is).

#[cfg(feature = "demo")]
mod demo;
#[cfg(feature = "demo")]
pub use demo::built_in_credential;
#[cfg(not(feature = "demo"))]
mod demo {
    //! This build has no demo: the `demo` feature, which brings the simulator in, was left off (as in the image).

    #[derive(clap::Args)]
    pub struct Args {
        /// Answer long-running operations synchronously (200) instead of 202 + polling.
        #[arg(long)]
        pub sync_operations: bool,
    }

    pub async fn run(_args: Args) -> anyhow::Result<()> {
        anyhow::bail!(
            "this build of flowlog-operator has no demo: it leaves the simulator out (as the container image does).\n\
             From the source: cargo run --features demo -- demo"
        )
    }
}
mod azure;
mod logs;
mod migrate;
mod plan;
pub mod report;
mod run;
mod sim;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "flowlog-operator",
    version,
    about = "Keeps Azure Network Watcher flow logs in the state FlowLogPolicy resources declare."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "FLOWLOG_LOG_FORMAT")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator against the cluster in KUBECONFIG (or in-cluster config) and Azure.
    Run(Box<run::Args>),
    /// Print a compliance report of the cluster in KUBECONFIG (or in-cluster config): coverage per set,
    /// subscription and region, and every target that is not compliant with its reason. Reads only.
    Report(report::Args),
    /// NSG → VNet flow-log migration: `plan` reads Azure and says which VNet, subnet and NIC flow logs take over the
    /// NSG flow logs' traffic, as a report and as manifests for a Git repository.
    Migrate(Box<migrate::Args>),
    /// Say what the manifests (-f) would change in Azure, target by target and field by field, without a cluster:
    /// validated as the apiserver would, Azure read with GETs only. For pull requests: text, JSON or Markdown, and
    /// --detailed-exitcode.
    Plan(Box<plan::PlanArgs>),
    /// Make the changes `plan` shows in Azure, without a cluster (break-glass, or no Kubernetes): asks first
    /// (unless --yes), with the operator's ARM budgets and write locks, and progress on stderr.
    Apply(Box<plan::ApplyArgs>),
    /// Print the flows a flow log wrote: for a policy (read from the cluster) or a target's ARM ID, the hours
    /// asked for, as a table, JSON lines or CSV, with filters. Reads ARM and storage; writes nothing.
    Logs(Box<logs::Args>),
    /// Print the CustomResourceDefinitions as YAML, as `crds/` holds them: both (one multi-document stream, for one
    /// `kubectl apply`), or the one `--kind` names.
    Crd {
        /// Only this one.
        #[arg(long, value_enum)]
        kind: Option<CrdKind>,
    },
    /// Show the operator at work against an in-process simulator: no cluster, no Azure account (builds with
    /// the `demo` feature).
    Demo(demo::Args),
    /// Say where the Network Watcher simulator is (its own binary, `flowlog-sim`; not part of this one).
    Sim(sim::Args),
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version succeed; a usage error exits 1 like any other error, since 2 means "a target
            // is not compliant" (`report --fail-on-noncompliant`).
            let _ = e.print();
            return if e.use_stderr() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
        }
    };
    // kube (aws-lc-rs) and reqwest both use rustls: pick the provider once, before any TLS.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    init_logging(
        cli.log_format,
        matches!(
            cli.command,
            Command::Demo(_)
                | Command::Report(_)
                | Command::Migrate(_)
                | Command::Plan(_)
                | Command::Apply(_)
                | Command::Logs(_)
        ),
    );
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(*args).await.map(|()| ExitCode::SUCCESS),
            Command::Report(args) => report::run(args).await,
            Command::Migrate(args) => migrate::run(*args).await.map(|()| ExitCode::SUCCESS),
            Command::Plan(args) => plan::plan(*args).await,
            Command::Apply(args) => plan::apply(*args).await,
            Command::Logs(args) => logs::run(*args).await.map(|()| ExitCode::SUCCESS),
            Command::Crd { kind } => {
                match kind {
                    Some(kind) => print!("{}", crd_yaml(kind)),
                    None => print!("{}", all_crds_yaml()),
                }
                Ok(ExitCode::SUCCESS)
            }
            Command::Sim(args) => sim::run(args).map(|()| ExitCode::SUCCESS),
            Command::Demo(args) => demo::run(args).await.map(|()| ExitCode::SUCCESS),
        }
    });
    // Do not wait for blocking work still under way (a DNS lookup, say): the process is done.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The custom resources, by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "verbatim")]
pub enum CrdKind {
    FlowLogPolicy,
    FlowLogPolicySet,
}

impl CrdKind {
    /// Every kind, in the order `flowlog-operator crd` prints them.
    pub const ALL: [CrdKind; 2] = [CrdKind::FlowLogPolicy, CrdKind::FlowLogPolicySet];

    /// The file in `crds/` that holds the CRD.
    pub fn file(self) -> &'static str {
        match self {
            CrdKind::FlowLogPolicy => "flowlogpolicies.flowlog.dev.yaml",
            CrdKind::FlowLogPolicySet => "flowlogpolicysets.flowlog.dev.yaml",
        }
    }
}

/// A CRD as YAML, exactly as `crds/` holds it ([`CrdKind::file`]); `flowlog-operator crd --kind KIND` prints it.
pub fn crd_yaml(kind: CrdKind) -> String {
    use kube::CustomResourceExt;
    let (crd, command) = match kind {
        CrdKind::FlowLogPolicy => (crate::api::FlowLogPolicy::crd(), "flowlog-operator crd --kind FlowLogPolicy"),
        CrdKind::FlowLogPolicySet => {
            (crate::api::FlowLogPolicySet::crd(), "flowlog-operator crd --kind FlowLogPolicySet")
        }
    };
    let yaml = serde_saphyr::to_string(&crd).expect("a CRD always serialises");
    format!("# Generated by `{command}`; do not edit.\n---\n{yaml}")
}

/// Every CRD ([`CrdKind::ALL`]) as one multi-document YAML stream: the files of `crds/` one after the other, which
/// `flowlog-operator crd` prints (`flowlog-operator crd | kubectl apply --server-side -f -` installs them all).
pub fn all_crds_yaml() -> String {
    CrdKind::ALL.into_iter().map(crd_yaml).collect()
}

fn init_logging(format: LogFormat, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if quiet { "warn" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Asks on the terminal unless `--yes`; without a terminal, `--yes` is required.
pub(crate) fn confirm(yes: bool, question: &str) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        anyhow::bail!("{question}: add --yes to go on without a terminal to confirm on");
    }
    eprint!("{question}? Type yes to go on: ");
    std::io::Write::flush(&mut std::io::stderr()).ok();
    let mut answer = String::new();
    std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut answer)
        .map_err(|e| anyhow::anyhow!("reading the answer: {e}"))?;
    if answer.trim() != "yes" {
        anyhow::bail!("not confirmed: nothing was changed");
    }
    Ok(())
}

/// Parses a Go-style duration flag (`30s`, `10m`, `1h30m`).
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d: kube::core::Duration = s.parse().map_err(|e| format!("{e}"))?;
    if d.is_negative() {
        return Err("must not be negative".into());
    }
    Ok(d.into())
}
