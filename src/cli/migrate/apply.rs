//! `migrate apply`, `migrate rollback` and `migrate status`: the migration carried out in the cluster in KUBECONFIG
//! (the work is [`crate::migrate::apply`]'s), with confirmation and progress on stderr.

use std::io::Write as _;

use anyhow::{Context as _, bail};
use kube::Client;

use super::plan::{ScopeArgs, make_plan};
use crate::cli::confirm;
use crate::migrate::apply::{self as work, Target};
use crate::migrate::format::table;
use crate::migrate::record::{Record, status as status_rows};
use crate::report::format::aligned;

/// Which migration, in the cluster.
#[derive(clap::Args)]
pub struct RecordArgs {
    /// The namespace of the migration's FlowLogPolicies and of its record.
    #[arg(long, short = 'n')]
    pub namespace: String,
    /// The migration's name: its record is the ConfigMap of that name, its policies carry the label
    /// `flowlog.dev/migration=<name>`.
    #[arg(long, default_value = "flowlog-migration")]
    pub name: String,
    /// Stop waiting after this long (run the command again to go on).
    #[arg(long, default_value = "30m", value_parser = crate::cli::parse_duration)]
    pub timeout: std::time::Duration,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
}

#[derive(clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub record: RecordArgs,
    /// `spec.interval` of the policies it creates.
    #[arg(long, default_value = "10m")]
    pub interval: String,
    /// Used only to start a migration (a started one resumes from its record).
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The namespace of the migration's record.
    #[arg(long, short = 'n')]
    pub namespace: String,
    /// The migration's name.
    #[arg(long, default_value = "flowlog-migration")]
    pub name: String,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = StatusFormat::Table)]
    pub output: StatusFormat,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum StatusFormat {
    Table,
    Json,
}

fn say(line: &str) {
    eprintln!("[migrate] {line}");
}

async fn client() -> anyhow::Result<Client> {
    Client::try_default().await.context("connecting to Kubernetes (KUBECONFIG or in-cluster)")
}

fn target(args: &RecordArgs) -> Target {
    Target {
        namespace: args.namespace.clone(),
        name: args.name.clone(),
        timeout: args.timeout,
        poll: std::time::Duration::from_secs(2),
    }
}

pub async fn apply(args: ApplyArgs) -> anyhow::Result<()> {
    let client = client().await?;
    let target = target(&args.record);
    let mut record = match work::load(&client, &target).await? {
        Some(record) => {
            say(&format!(
                "resuming migration {} in {} ({}; started {})",
                target.name,
                target.namespace,
                record.phase.as_str(),
                record.started
            ));
            record
        }
        None => {
            let existing =
                work::existing_nsg_policies(&client, work::Search::Everywhere { or_else: Some(&target.namespace) })
                    .await?;
            let plan = make_plan(&args.scope, &existing).await?;
            eprint!("{}", table(&plan));
            if plan.summary.disable + plan.summary.disable_only == 0 {
                say("nothing to migrate: no NSG flow log can be switched off");
                return Ok(());
            }
            confirm(
                args.record.yes,
                &format!(
                    "Create {} flow logs and switch {} NSG flow logs off through FlowLogPolicies in {}",
                    plan.summary.create,
                    plan.summary.disable + plan.summary.disable_only,
                    target.namespace
                ),
            )?;
            let now = k8s_openapi::jiff::Timestamp::now().to_string();
            let record = Record::new(&plan, &target.namespace, &existing, &args.interval, now);
            work::start(&client, &target, &record).await?;
            say(&format!("migration {} recorded in ConfigMap {}/{}", target.name, target.namespace, target.name));
            record
        }
    };
    work::apply(&client, &target, &mut record, say).await?;
    if !record.blocked.is_empty() {
        say(&format!("{} NSG flow logs stay on (blocked): see `migrate status`", record.blocked.len()));
    }
    Ok(())
}

pub async fn rollback(args: RecordArgs) -> anyhow::Result<()> {
    let client = client().await?;
    let target = target(&args);
    let Some(mut record) = work::load(&client, &target).await? else {
        bail!("no migration named {} in {}: nothing to roll back", target.name, target.namespace);
    };
    let switched = record.disable.iter().filter(|d| d.switched_off).count();
    confirm(
        args.yes,
        &format!(
            "Switch {switched} NSG flow logs back on and delete the {} flow logs migration {} created",
            record.create.len(),
            target.name
        ),
    )?;
    work::rollback(&client, &target, &mut record, say).await?;
    Ok(())
}

pub async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let client = client().await?;
    let target = Target {
        namespace: args.namespace.clone(),
        name: args.name.clone(),
        timeout: std::time::Duration::ZERO,
        poll: std::time::Duration::ZERO,
    };
    let Some(record) = work::load(&client, &target).await? else {
        bail!("no migration named {} in {}", target.name, target.namespace);
    };
    let seen = work::states(&client, &target, &record).await?;
    let rows = status_rows(&record, &target.namespace, &seen);
    let text = match args.output {
        StatusFormat::Json => {
            let doc = serde_json::json!({"name": target.name, "namespace": target.namespace, "phase": record.phase, "nsgFlowLogs": rows});
            format!("{}\n", serde_json::to_string_pretty(&doc).expect("serialisable"))
        }
        StatusFormat::Table => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| vec![r.state.as_str().to_string(), r.nsg.clone(), r.covered_by.join(", "), r.detail.clone()])
                .collect();
            format!(
                "migration {} in {}: {}\n{}",
                target.name,
                target.namespace,
                record.phase.as_str(),
                aligned(&["STATE", "NSG", "TAKEN OVER BY", "DETAIL"], &cells, 4)
            )
        }
    };
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing the status"),
        _ => Ok(()),
    }
}
