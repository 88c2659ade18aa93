//! `flowlog-operator migrate`: NSG → VNet flow-log migration. `plan` reads Azure (never writes), prints the plan and
//! writes it as manifests for a Git repository (`plan.rs`); `apply` makes the plan's FlowLogPolicies in the cluster,
//! in order, and the operator does the Azure writes; `rollback` undoes what apply did; `status` says where it stands
//! (`apply.rs`).

mod apply;
mod plan;

use apply::{ApplyArgs, RecordArgs, StatusArgs};
use plan::PlanArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Analyse the NSG flow logs of the subscriptions and regions in scope (reads only) and print which VNet, subnet
    /// and NIC flow logs take over their traffic; with --out, write that as manifests for a Git repository.
    Plan(PlanArgs),
    /// Plan, then carry the plan out in the cluster in KUBECONFIG (the operator writes to Azure): the new flow logs'
    /// FlowLogPolicies first, then each NSG flow log switched off once the flow logs taking over its traffic are
    /// Ready. Kept in a ConfigMap: run it again to resume.
    Apply(ApplyArgs),
    /// Undo what apply did, and nothing else: the NSG flow logs it switched off back as they were, then the flow logs
    /// it created deleted.
    Rollback(RecordArgs),
    /// Where a migration stands: each NSG flow log migrated, pending (on what), or blocked (why), with the flow logs
    /// that take over its traffic.
    Status(StatusArgs),
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Plan(args) => plan::plan(args).await,
        Command::Apply(args) => apply::apply(args).await,
        Command::Rollback(args) => apply::rollback(args).await,
        Command::Status(args) => apply::status(args).await,
    }
}
