//! `migrate plan`: reads Azure (never writes), prints the plan and writes it as manifests for a Git repository; the
//! flags that say what to analyse, shared with `migrate apply`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};

use crate::azure::{NoopObserver, normalize_region};
use crate::cli::azure::AzureArgs;
use crate::migrate::analysis::Mode;
use crate::migrate::format::{Format, markdown, render};
use crate::migrate::manifests::{Options, manifests};
use crate::migrate::read::{Scope, read};
use crate::migrate::{Existing, only_nsgs};

/// Layout of the new flow logs.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ModeArg {
    /// One subnet flow log where every NIC of a subnet has the same settings, one VNet flow log where every subnet
    /// of a VNet has (Microsoft's recommendation).
    Aggregated,
    /// One flow log per subnet and NIC that an NSG is attached to.
    PerTarget,
}

/// What to analyse, and how.
#[derive(clap::Args)]
pub struct ScopeArgs {
    /// A subscription to analyse (repeat for several). Default: every subscription the credentials can see.
    #[arg(long = "subscription", value_name = "ID")]
    pub subscriptions: Vec<String>,
    /// A region to analyse, e.g. `westeurope` (repeat for several). Default: every region with a Network Watcher.
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    /// How the new flow logs are laid out.
    #[arg(long, value_enum, default_value = "aggregated")]
    pub mode: ModeArg,
    /// The storage account of the new flow logs in a region, `REGION=STORAGE_ACCOUNT_ID` (repeat per region), for
    /// NSG flow logs whose own account is in another region or gone. Default: each NSG flow log's own account.
    #[arg(long = "storage", value_name = "REGION=ID", value_parser = parse_storage)]
    pub storage: Vec<(String, String)>,
    /// Only the NSG flow logs of NSGs that FlowLogPolicies in the cluster in KUBECONFIG manage (all namespaces it may
    /// list), in their subscriptions unless --subscription says otherwise; those policies switch them off.
    #[arg(long)]
    pub from_cluster: bool,
    #[command(flatten)]
    pub azure: AzureArgs,
}

#[derive(clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Output format on stdout.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Write the plan into this folder: `01-create-vnet-flow-logs/`, `02-disable-nsg-flow-logs/` and `rollback/`
    /// (each a kustomization of FlowLogPolicies) and `PLAN.md`. The folder must not exist or be empty (see --force).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// With --out: replace the folder's content.
    #[arg(long, requires = "out")]
    pub force: bool,
    /// With --out: the namespace of the policies (default: none, left to kustomize or `kubectl -n`).
    #[arg(long, short = 'n', requires = "out")]
    pub namespace: Option<String>,
}

fn parse_storage(text: &str) -> Result<(String, String), String> {
    let (region, id) = text.split_once('=').ok_or("expected REGION=STORAGE_ACCOUNT_ID")?;
    let parsed = crate::azure::id::ResourceId::parse(id.trim()).map_err(|e| e.to_string())?;
    if !parsed.is_type("Microsoft.Storage/storageAccounts") {
        return Err(format!("{id} is not the ARM ID of a storage account"));
    }
    if region.trim().is_empty() {
        return Err("the region is empty".into());
    }
    Ok((normalize_region(region.trim()), id.trim().to_string()))
}

/// Reads Azure and analyses it; with `--from-cluster`, only the NSGs the `existing` policies manage.
pub(super) async fn make_plan(scope: &ScopeArgs, existing: &Existing) -> anyhow::Result<crate::migrate::Plan> {
    let (_, _, arm) = scope.azure.arm_client(Arc::new(NoopObserver))?;
    let mut subscriptions = scope.subscriptions.clone();
    if scope.from_cluster {
        if existing.is_empty() {
            bail!("--from-cluster: no FlowLogPolicy in the cluster manages an NSG: nothing to migrate");
        }
        if subscriptions.is_empty() {
            let of =
                |id: &String| crate::azure::id::ResourceId::parse(id).ok().map(|p| p.subscription.to_ascii_lowercase());
            let found: BTreeSet<String> = existing.keys().filter_map(of).collect();
            subscriptions = found.into_iter().collect();
        }
    }
    // Subscriptions taken from the policies may include some these credentials cannot see (another credentialsRef's).
    let skip_unreadable = scope.from_cluster && scope.subscriptions.is_empty();
    let what = Scope { subscriptions, regions: scope.regions.clone(), skip_unreadable };
    let mut inventories = read(&arm, &what, |step| eprintln!("[migrate] {step}")).await.context("reading Azure")?;
    if inventories.is_empty() {
        bail!("no Network Watcher in the subscriptions and regions asked for: nothing to analyse");
    }
    if scope.from_cluster {
        only_nsgs(&mut inventories, &existing.keys().cloned().collect());
    }
    let mode = match scope.mode {
        ModeArg::Aggregated => Mode::Aggregated,
        ModeArg::PerTarget => Mode::PerTarget,
    };
    let storage: BTreeMap<String, String> = scope.storage.iter().cloned().collect();
    Ok(crate::migrate::plan(&inventories, mode, &storage))
}

/// The FlowLogPolicies that manage NSGs, with `--from-cluster` (else none: the plan needs no cluster).
pub(super) async fn existing_policies(scope: &ScopeArgs, namespace: Option<&str>) -> anyhow::Result<Existing> {
    if !scope.from_cluster {
        return Ok(Existing::new());
    }
    let client = kube::Client::try_default().await.context("connecting to Kubernetes (KUBECONFIG or in-cluster)")?;
    let search = crate::migrate::apply::Search::Everywhere { or_else: namespace };
    Ok(crate::migrate::apply::existing_nsg_policies(&client, search).await?)
}

pub(super) async fn plan(args: PlanArgs) -> anyhow::Result<()> {
    // Checked before anything is read: a folder that cannot be written fails now, not after minutes of listing.
    if let Some(out) = &args.out {
        check_out(out, args.force)?;
    }
    let existing = existing_policies(&args.scope, args.namespace.as_deref()).await?;
    let plan = make_plan(&args.scope, &existing).await?;
    if let Some(out) = &args.out {
        let options = Options { namespace: args.namespace.clone(), interval: None };
        let mut files = manifests(&plan.regions, &options, &existing);
        files.insert("PLAN.md".into(), markdown(&plan));
        write_folder(out, &files, args.force)?;
        eprintln!("[migrate] wrote {} files to {}", files.len(), out.display());
    }
    let text = render(&plan, args.output);
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing the plan"),
        _ => Ok(()),
    }
}

fn check_out(out: &Path, force: bool) -> anyhow::Result<()> {
    match std::fs::read_dir(out).map(|mut entries| entries.next().is_some()) {
        Ok(true) if !force => {
            bail!("{} is not empty: choose another folder, or add --force to replace its content", out.display())
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if parent.is_dir() { Ok(()) } else { bail!("{} does not exist", parent.display()) }
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", out.display())),
    }
}

/// Writes every file into a fresh folder beside `out`, then puts it in `out`'s place: a failure leaves `out` as it
/// was, never half-written.
fn write_folder(out: &Path, files: &BTreeMap<String, String>, force: bool) -> anyhow::Result<()> {
    check_out(out, force)?;
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let staged = parent.join(format!(".flowlog-migrate-{}", uuid::Uuid::new_v4().simple()));
    let written = (|| -> anyhow::Result<()> {
        std::fs::create_dir(&staged).with_context(|| format!("creating a folder in {}", parent.display()))?;
        for (path, content) in files {
            let file = staged.join(path);
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&file, content).with_context(|| format!("writing {}", file.display()))?;
        }
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(e);
    }
    // The old content moves aside first and goes only once the new is in place.
    let old = out.exists().then(|| parent.join(format!(".flowlog-migrate-old-{}", uuid::Uuid::new_v4().simple())));
    if let Some(old) = &old {
        std::fs::rename(out, old).with_context(|| format!("moving {} aside", out.display()))?;
    }
    if let Err(e) = std::fs::rename(&staged, out) {
        if let Some(old) = &old {
            let _ = std::fs::rename(old, out);
        }
        let _ = std::fs::remove_dir_all(&staged);
        return Err(e).with_context(|| format!("moving the plan into {}", out.display()));
    }
    if let Some(old) = old {
        std::fs::remove_dir_all(&old).with_context(|| format!("removing the old content ({})", old.display()))?;
    }
    Ok(())
}
