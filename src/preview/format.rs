//! A [`Preview`] as text for a terminal, JSON for tools and Markdown for a pull-request comment (pure).

use std::fmt::Write as _;

use super::{Change, Preview, Row, Summary};
use crate::report::format::{md_code, md_row, md_text, short_id};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

/// Renders `preview`; rows that change nothing (unchanged, orphaned) are listed only with `all` (JSON has them
/// always).
pub fn render(preview: &Preview, format: Format, all: bool) -> String {
    match format {
        Format::Text => text(preview, all),
        Format::Json => {
            serde_json::to_string_pretty(&Json { summary: preview.summary(), preview }).expect("serialises") + "\n"
        }
        Format::Markdown => markdown(preview, all),
    }
}

#[derive(serde::Serialize)]
struct Json<'a> {
    summary: Summary,
    #[serde(flatten)]
    preview: &'a Preview,
}

/// The one-line summary: `2 to create, 14 to update, 1 to disable; 3 unchanged; 1 refused, 1 conflict`.
pub fn summary_line(s: &Summary) -> String {
    let mut parts = vec![format!(
        "{} to create, {} to update, {} to disable, {} to delete",
        s.create, s.update, s.disable, s.delete
    )];
    let quiet: Vec<String> = [(s.unchanged, "unchanged"), (s.orphan, "left as is"), (s.drift, "drifted (audit)")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if !quiet.is_empty() {
        parts.push(quiet.join(", "));
    }
    let problems: Vec<String> = [
        (s.refused, "refused by Azure"),
        (s.conflict, "in conflict"),
        (s.failed, "not readable"),
        (s.invalid, "invalid manifest(s)"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if !problems.is_empty() {
        parts.push(problems.join(", "));
    }
    parts.join("; ")
}

fn listed(row: &Row, all: bool) -> bool {
    all || !matches!(row.change, Change::Unchanged { .. } | Change::Orphan)
}

fn sign(change: &Change) -> &'static str {
    match change {
        Change::Create { .. } => "+",
        Change::Update { .. } | Change::Drift { .. } => "~",
        Change::Disable { .. } | Change::Delete => "-",
        Change::Refused { .. } | Change::Conflict { .. } | Change::Failed { .. } => "!",
        Change::Unchanged { .. } | Change::Orphan => "=",
    }
}

/// What a row says beyond its action: the fields, or the reason.
fn details(change: &Change) -> Vec<String> {
    match change {
        Change::Refused { code, message } | Change::Failed { code, message } => vec![format!("{code}: {message}")],
        Change::Conflict { owner } => vec![format!("{owner} keeps this target; this policy would never write")],
        Change::Delete => vec!["the flow log resource is deleted (deletionPolicy Delete)".into()],
        Change::Orphan => vec!["Azure is left as it is".into()],
        Change::Drift { .. } => {
            let mut lines = vec!["Audit mode: reported, not written".to_string()];
            lines.extend(fields(change));
            lines
        }
        _ => fields(change),
    }
}

fn fields(change: &Change) -> Vec<String> {
    change.differences().iter().map(|d| format!("{}: {} → {}", d.field, d.before, d.after)).collect()
}

fn text(preview: &Preview, all: bool) -> String {
    let mut out = String::new();
    for invalid in &preview.invalid {
        let _ = writeln!(out, "! {}: the apiserver would refuse it", invalid.document);
        for e in &invalid.errors {
            let _ = writeln!(out, "    {e}");
        }
    }
    for e in &preview.errors {
        let _ = writeln!(out, "! {e}");
    }
    for row in preview.changes.iter().filter(|r| listed(r, all)) {
        let _ = writeln!(
            out,
            "{} {} {} ({}, {})",
            sign(&row.change),
            row.change.action(),
            short_id(&row.target),
            row.policy,
            row.origin
        );
        for line in details(&row.change) {
            let _ = writeln!(out, "    {line}");
        }
    }
    for w in &preview.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    for i in &preview.ignored {
        let _ = writeln!(out, "ignored (not a flowlog.dev kind): {i}");
    }
    if !out.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "Plan: {}.", summary_line(&preview.summary()));
    out
}

fn markdown(preview: &Preview, all: bool) -> String {
    let mut out = String::from("## Flow-log plan\n\n");
    let _ = writeln!(out, "**{}.**\n", md_text(&summary_line(&preview.summary())));
    if !preview.invalid.is_empty() || !preview.errors.is_empty() {
        out.push_str("### Errors\n\n");
        for invalid in &preview.invalid {
            let _ = writeln!(out, "- {}: the apiserver would refuse it", md_text(&invalid.document));
            for e in &invalid.errors {
                let _ = writeln!(out, "  - {}", md_text(e));
            }
        }
        for e in &preview.errors {
            let _ = writeln!(out, "- {}", md_text(e));
        }
        out.push('\n');
    }
    let rows: Vec<&Row> = preview.changes.iter().filter(|r| listed(r, all)).collect();
    if !rows.is_empty() {
        out.push_str(&md_row(&["", "Action", "Target", "Policy", "What changes"]));
        out.push_str("|---|---|---|---|---|\n");
        for row in rows {
            let what: Vec<String> = details(&row.change).iter().map(|d| md_text(d)).collect();
            out.push_str(&md_row(&[
                sign(&row.change).to_string(),
                row.change.action().to_string(),
                md_code(&short_id(&row.target)),
                md_text(&format!("{} ({})", row.policy, row.origin)),
                what.join("<br>"),
            ]));
        }
        out.push('\n');
    }
    for w in &preview.warnings {
        let _ = writeln!(out, "> **Warning:** {}\n", md_text(w));
    }
    if !preview.ignored.is_empty() {
        let _ = writeln!(out, "Left out (not a flowlog.dev kind): {}.", md_text(&preview.ignored.join(", ")));
    }
    out
}
