//! The migration plan for people (a terminal table, Markdown for a pull request) and for tools (JSON).

use std::fmt::Write as _;

use super::analysis::{NsgAction, TargetKind};
use super::{Plan, Summary};
use crate::report::format::{aligned, md_code, md_row, md_text, short_id};

/// Output formats of `migrate plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Markdown,
    Json,
}

pub fn render(plan: &Plan, format: Format) -> String {
    match format {
        Format::Table => table(plan),
        Format::Markdown => markdown(plan),
        Format::Json => {
            let mut out = serde_json::to_string_pretty(plan).expect("a plan always serialises");
            out.push('\n');
            out
        }
    }
}

fn kind(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::VirtualNetwork => "VNet",
        TargetKind::Subnet => "subnet",
        TargetKind::NetworkInterface => "NIC",
    }
}

/// The summary's sentences, shared by both human formats.
fn summary_lines(plan: &Plan) -> Vec<String> {
    let Summary { regions, nsg_flow_logs, disable, disable_only, already_off, blocked, create, .. } = &plan.summary;
    let s = &plan.summary;
    vec![
        format!(
            "{nsg_flow_logs} NSG flow logs in {regions} regions: {} to disable after step 1 ({disable_only} attached to nothing), {already_off} already off, {blocked} blocked",
            disable + disable_only
        ),
        format!(
            "{create} new flow logs ({} VNet, {} subnet, {} NIC) in {} mode; {} per target, {} aggregated",
            s.create_vnets,
            s.create_subnets,
            s.create_nics,
            match plan.mode {
                super::analysis::Mode::Aggregated => "aggregated",
                super::analysis::Mode::PerTarget => "per-target",
            },
            s.per_target,
            s.aggregated
        ),
        format!(
            "{} already covered by an existing flow log; {}",
            plural(s.covered, "target", "targets"),
            plural(s.problems, "problem", "problems")
        ),
    ]
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The NSGs of the NSG flow logs a new flow log takes over (`rg/nsg`; a flow log's own name says little).
fn from_nsgs(plan: &Plan, c: &super::analysis::NewFlowLog) -> Vec<String> {
    let nsg_of = |id: &String| {
        plan.regions
            .iter()
            .flat_map(|r| &r.nsg_flow_logs)
            .find(|l| l.id.eq_ignore_ascii_case(id))
            .map_or_else(|| short_id(id), |l| short_id(&l.nsg))
    };
    c.from.iter().map(nsg_of).collect()
}

/// How many flow logs of its own (a subnet or NIC flow log per target) a new flow log stands for.
fn stands_for(c: &super::analysis::NewFlowLog) -> String {
    c.aggregates.len().max(1).to_string()
}

/// The action, and whether a rollback could undo it.
fn action_text(l: &super::analysis::NsgFlowLog) -> String {
    if l.storage_replaced {
        format!("{} (no rollback: its storage account cannot serve the region)", l.action.as_str())
    } else {
        l.action.as_str().to_string()
    }
}

pub fn table(plan: &Plan) -> String {
    let mut out = String::from("NSG → VNet flow-log migration plan\n");
    for line in summary_lines(plan) {
        let _ = writeln!(out, "  {line}");
    }
    let create: Vec<Vec<String>> = plan
        .regions
        .iter()
        .flat_map(|r| r.create.iter().map(move |c| (r, c)))
        .map(|(r, c)| {
            vec![
                r.subscription.clone(),
                r.region.clone(),
                kind(c.kind).to_string(),
                short_id(&c.target),
                from_nsgs(plan, c).join(", "),
                stands_for(c),
            ]
        })
        .collect();
    out.push_str("\nSTEP 1: NEW FLOW LOGS\n");
    if create.is_empty() {
        out.push_str("(none)\n");
    } else {
        out.push_str(&aligned(
            &["SUBSCRIPTION", "REGION", "KIND", "TARGET", "TAKES OVER FROM NSGS", "STANDS FOR"],
            &create,
            5,
        ));
    }
    let nsg: Vec<Vec<String>> = plan
        .regions
        .iter()
        .flat_map(|r| r.nsg_flow_logs.iter().map(move |l| (r, l)))
        .map(|(r, l)| {
            vec![
                r.subscription.clone(),
                r.region.clone(),
                action_text(l),
                short_id(&l.nsg),
                l.covered_by.iter().map(|t| short_id(t)).collect::<Vec<_>>().join(", "),
            ]
        })
        .collect();
    out.push_str("\nSTEP 2: NSG FLOW LOGS\n");
    if nsg.is_empty() {
        out.push_str("(none)\n");
    } else {
        out.push_str(&aligned(&["SUBSCRIPTION", "REGION", "ACTION", "NSG", "TAKEN OVER BY"], &nsg, 5));
    }
    let problems: Vec<Vec<String>> = plan
        .regions
        .iter()
        .flat_map(|r| &r.problems)
        .map(|p| vec![p.reason.as_str().to_string(), short_id(&p.target), p.message.clone()])
        .collect();
    if !problems.is_empty() {
        out.push_str("\nPROBLEMS (their NSG flow logs stay on)\n");
        out.push_str(&aligned(&["REASON", "TARGET", "MESSAGE"], &problems, 3));
    }
    out
}

pub fn markdown(plan: &Plan) -> String {
    let mut out = String::from("## NSG → VNet flow-log migration plan\n\n");
    for line in summary_lines(plan) {
        let _ = writeln!(out, "- {}", md_text(&line));
    }
    out.push_str("\n### Step 1: new flow logs\n\n");
    let creates: Vec<_> = plan.regions.iter().flat_map(|r| r.create.iter().map(move |c| (r, c))).collect();
    if creates.is_empty() {
        out.push_str("None.\n");
    } else {
        out.push_str(&md_row(&["Subscription", "Region", "Kind", "Target", "Takes over from NSGs", "Stands for"]));
        out.push_str(&md_row(&["---", "---", "---", "---", "---", "---:"]));
        for (r, c) in creates {
            let from: Vec<String> = from_nsgs(plan, c).iter().map(|f| md_code(f)).collect();
            out.push_str(&md_row(&[
                md_code(&r.subscription),
                md_text(&r.region),
                kind(c.kind).to_string(),
                md_code(&c.target),
                from.join(", "),
                stands_for(c),
            ]));
        }
    }
    out.push_str("\n### Step 2: NSG flow logs (merge once every policy of step 1 is Ready)\n\n");
    let logs: Vec<_> = plan.regions.iter().flat_map(|r| r.nsg_flow_logs.iter().map(move |l| (r, l))).collect();
    if logs.is_empty() {
        out.push_str("None.\n");
    } else {
        out.push_str(&md_row(&["Subscription", "Region", "Action", "NSG", "Taken over by"]));
        out.push_str(&md_row(&["---", "---", "---", "---", "---"]));
        for (r, l) in logs {
            let by: Vec<String> = l.covered_by.iter().map(|t| md_code(&short_id(t))).collect();
            let action =
                if l.action == NsgAction::Blocked { "**Blocked**".to_string() } else { md_text(&action_text(l)) };
            out.push_str(&md_row(&[
                md_code(&r.subscription),
                md_text(&r.region),
                action,
                md_code(&l.nsg),
                by.join(", "),
            ]));
        }
    }
    let problems: Vec<_> = plan.regions.iter().flat_map(|r| &r.problems).collect();
    if !problems.is_empty() {
        out.push_str("\n### Problems (their NSG flow logs stay on)\n\n");
        out.push_str(&md_row(&["Reason", "Target", "Message"]));
        out.push_str(&md_row(&["---", "---", "---"]));
        for p in problems {
            out.push_str(&md_row(&[p.reason.as_str().to_string(), md_code(&p.target), md_text(&p.message)]));
        }
    }
    out
}
