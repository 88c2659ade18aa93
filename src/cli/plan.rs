//! `flowlog-operator plan -f` and `apply -f`: what manifests would change in Azure, read without a cluster (plan),
//! and those changes made (apply, for break-glass and for users without Kubernetes). The work is
//! [`crate::preview`]'s; this file reads the manifests, prints, asks and reports progress on stderr.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;

use super::azure::AzureArgs;
use crate::azure::{ArmClient, NoopObserver};
use crate::preview::format::{Format, render, summary_line};
use crate::preview::intents::{Manifests, collect};
use crate::preview::read::{Planned, plan as read_plan};
use crate::preview::{Change, Intent};
use crate::sync::{FlowLogIndex, Insights, SyncError, converge, retire};
use crate::validate::stream::validate_paths;

/// The exit code of `--detailed-exitcode` when applying would change Azure.
pub const CHANGES: u8 = 2;

/// Which manifests, and how to reach Azure.
#[derive(clap::Args)]
pub struct ManifestArgs {
    /// Manifests: a file, a folder (its `.yaml`, `.yml` and `.json` files, recursively) or `-` for stdin (repeat
    /// for several). FlowLogPolicies and FlowLogPolicySets; documents of other kinds are left out.
    #[arg(long = "filename", short = 'f', value_name = "PATH", required = true)]
    pub filenames: Vec<PathBuf>,
    /// The manifests before the change (e.g. the pull request's base branch), same forms as -f: a policy only there
    /// is deleted, and its deletionPolicy says what happens in Azure; a policy there is older than a new one when
    /// both name one target.
    #[arg(long, value_name = "PATH")]
    pub before: Vec<PathBuf>,
    /// The namespace of manifests that name none (as `kubectl apply -n`).
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
    #[command(flatten)]
    pub azure: AzureArgs,
}

#[derive(clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
    /// Output format on stdout: text for a terminal, JSON for tools, Markdown for a pull-request comment.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// List targets that do not change too (JSON always lists them).
    #[arg(long)]
    pub show_unchanged: bool,
    /// Exit with 2 when applying would change Azure, 0 when it would not; 1 on errors (as always).
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// How many targets are written at once (ARM's budgets and the per-target write locks still apply).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

fn say(line: &str) {
    eprintln!("[plan] {line}");
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        // A reader that stopped early (`| head`) is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing the plan"),
        _ => Ok(()),
    }
}

/// Reads and validates the manifests, then Azure.
async fn make(args: &ManifestArgs) -> anyhow::Result<(ArmClient, Planned)> {
    let read = |paths: &[PathBuf]| -> anyhow::Result<Manifests> {
        let documents = validate_paths(paths).context("reading the manifests")?;
        Ok(collect(&documents, &args.namespace))
    };
    let after = read(&args.filenames)?;
    let before = if args.before.is_empty() { None } else { Some(read(&args.before)?) };
    let (_, credential, arm) = args.azure.arm_client(Arc::new(NoopObserver))?;
    // One sign-in first: credentials that do not work are one error, not one per target.
    credential.token().await.context("signing in to Azure")?;
    let started = Instant::now();
    let progress = |done: usize, total: usize| {
        if total >= 50 && (done.is_multiple_of(100) || done == total) {
            say(&format!("read {done} of {total} targets ({:.0} s)", started.elapsed().as_secs_f64()));
        }
    };
    let planned = read_plan(&arm, after, before, &progress).await;
    Ok((arm, planned))
}

pub async fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let (_, planned) = make(&args.manifests).await?;
    let preview = &planned.preview;
    print(&render(preview, args.output, args.show_unchanged))?;
    Ok(if preview.has_problems() {
        ExitCode::FAILURE
    } else if args.detailed_exitcode && preview.has_changes() {
        ExitCode::from(CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn apply(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let (arm, planned) = make(&args.manifests).await?;
    let preview = &planned.preview;
    print(&render(preview, Format::Text, false))?;
    if !preview.invalid.is_empty() || !preview.errors.is_empty() {
        anyhow::bail!("the manifests have errors (above): nothing was changed in Azure");
    }
    let work: Vec<(&Intent, &Change)> =
        planned.intents.iter().zip(&preview.changes).map(|(i, r)| (i, &r.change)).filter(|(_, c)| c.writes()).collect();
    let skipped = preview.changes.iter().filter(|r| r.change.is_problem()).count();
    if work.is_empty() {
        println!("Nothing to apply: Azure matches the manifests{}.", if skipped > 0 { " where it can" } else { "" });
        return Ok(if skipped > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS });
    }
    let question = format!("Write {} change(s) to Azure ({})", work.len(), summary_line(&preview.summary()));
    super::confirm(args.yes, &question)?;
    let started = Instant::now();
    let (index, insights) = (FlowLogIndex::default(), Insights::new(false));
    let total = work.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<(), String>> = futures::stream::iter(work)
        .map(|(intent, change)| {
            let (arm, index, insights, done) = (&arm, &index, &insights, &done);
            async move {
                let result = carry_out(arm, index, insights, intent, change).await.map_err(|e| e.to_string());
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                let target = crate::report::format::short_id(&intent.spec.target.resource_id);
                let what = format!("{} {target} ({})", change.action(), intent.policy());
                let elapsed = started.elapsed().as_secs_f64();
                match &result {
                    Ok(()) => eprintln!("[apply] {n}/{total} {what}: done ({elapsed:.1} s)"),
                    Err(e) => eprintln!("[apply] {n}/{total} {what}: failed ({elapsed:.1} s): {e}"),
                }
                result
            }
        })
        .buffer_unordered(usize::from(args.concurrency))
        .collect()
        .await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    println!(
        "Applied {} of {total} change(s) in {:.1} s{}{}.",
        total - failed,
        started.elapsed().as_secs_f64(),
        if failed > 0 { format!("; {failed} failed (above)") } else { String::new() },
        if skipped > 0 {
            format!("; {skipped} target(s) left out (refused, in conflict or unreadable)")
        } else {
            String::new()
        }
    );
    Ok(if failed + skipped > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// One change, waiting for Azure to finish it: the spec converged, or a removed policy's deletion policy carried out.
async fn carry_out(
    arm: &ArmClient,
    index: &FlowLogIndex,
    insights: &Insights,
    intent: &Intent,
    change: &Change,
) -> Result<(), SyncError> {
    // One list per watcher for the whole apply; a write records its answer in it.
    const SNAPSHOT_AGE: Duration = Duration::from_secs(3600);
    if intent.removed {
        retire(arm, index, &intent.spec, intent.spec.deletion_policy, None, SNAPSHOT_AGE).await?;
        return Ok(());
    }
    debug_assert!(change.writes());
    converge(arm, index, insights, &intent.spec, SNAPSHOT_AGE).await.map(|_| ())
}
