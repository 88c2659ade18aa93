//! `flowlog-operator report`: the compliance report on the cluster in KUBECONFIG (or the in-cluster config). Reads
//! only (lists); the figures and formats are [`crate::report`]'s.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::report::format::{CsvRows, Format, render};
use crate::report::{Scope, read::read};

/// The exit code of `--fail-on-noncompliant` when a target is not compliant.
pub const NOT_COMPLIANT: u8 = 2;

/// What to report on, and how.
#[derive(clap::Args)]
pub struct Args {
    /// Only this namespace (default: all namespaces).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Only this FlowLogPolicySet (and its generated policies); needs --namespace.
    #[arg(long, requires = "namespace")]
    pub set: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// With --output csv: which rows.
    #[arg(long, value_enum, default_value_t = CsvRows::NonCompliant)]
    pub csv_rows: CsvRows,
    /// Exit with status 2 when any target is not compliant (for CI); otherwise 0. Errors exit with 1.
    #[arg(long)]
    pub fail_on_noncompliant: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = kube::Client::try_default().await.context("connecting to Kubernetes (KUBECONFIG or in-cluster)")?;
    let scope = Scope { namespace: args.namespace, set: args.set };
    let report = read(&client, scope).await?;
    let text = render(&report, args.output, args.csv_rows);
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        // A reader that stopped early (`| head`) is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e).context("writing the report"),
        _ => {}
    }
    if args.fail_on_noncompliant && !report.all_compliant() {
        return Ok(ExitCode::from(NOT_COMPLIANT));
    }
    Ok(ExitCode::SUCCESS)
}
