//! The report in each output format, pure: an aligned table for a terminal, JSON (the [`Report`] as it is), CSV
//! (RFC 4180: the non-compliant targets, or the coverage rows) and Markdown (for a ticket or a pull-request comment).
//! Table, CSV and Markdown share the rows of [`coverage_rows`].

use std::fmt::Write as _;

use super::{Counts, Report, Scope, TargetRow};

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, for a terminal.
    Table,
    /// One JSON document (the field names are stable: see the README).
    Json,
    /// CSV (RFC 4180) of the rows --csv-rows chooses.
    Csv,
    /// Markdown, for a ticket or a pull-request comment.
    Markdown,
}

/// What a CSV holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CsvRows {
    /// One row per target that is not compliant.
    NonCompliant,
    /// One row per set, per (set, subscription, region), and per set with targets its status does not list.
    Coverage,
}

/// The report in `format` (`csv_rows` says which rows a CSV holds).
pub fn render(report: &Report, format: Format, csv_rows: CsvRows) -> String {
    match format {
        Format::Table => table(report),
        Format::Json => json(report),
        Format::Csv => match csv_rows {
            CsvRows::NonCompliant => csv_non_compliant(report),
            CsvRows::Coverage => csv_coverage(report),
        },
        Format::Markdown => markdown(report),
    }
}

/// The kind of a coverage row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// A whole set (or the pseudo-set of a namespace's independent policies).
    Set,
    /// A set's targets in one subscription and region.
    Region,
    /// A set's targets without a policy that its status counts but does not name (subscription, region unknown).
    Unlisted,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Set => "set",
            Level::Region => "region",
            Level::Unlisted => "unlisted",
        }
    }
}

/// One line of the coverage table.
#[derive(Clone, Debug, PartialEq)]
pub struct CoverageRow<'a> {
    pub level: Level,
    pub namespace: &'a str,
    pub set: &'a str,
    /// Empty for a set row, an unlisted row, or when unknown.
    pub subscription: &'a str,
    pub region: &'a str,
    pub counts: Counts,
    /// Only a set row has it.
    pub excluded: Option<u32>,
    pub compliant_percent: Option<f64>,
}

/// Each set's row, followed by its region rows and, when its status does not name every target without a
/// policy, an unlisted row; in the report's order.
pub fn coverage_rows(report: &Report) -> Vec<CoverageRow<'_>> {
    let mut rows = Vec::new();
    for set in &report.sets {
        rows.push(CoverageRow {
            level: Level::Set,
            namespace: &set.namespace,
            set: &set.set,
            subscription: "",
            region: "",
            counts: set.counts,
            excluded: Some(set.excluded),
            compliant_percent: set.compliant_percent,
        });
        for region in &set.regions {
            rows.push(CoverageRow {
                level: Level::Region,
                namespace: &set.namespace,
                set: &set.set,
                subscription: &region.subscription,
                region: &region.region,
                counts: region.counts,
                excluded: None,
                compliant_percent: region.compliant_percent,
            });
        }
        if set.not_covered_unlisted > 0 {
            let n = set.not_covered_unlisted;
            let counts = Counts { targets: n, not_covered: n, ..Default::default() };
            rows.push(CoverageRow {
                level: Level::Unlisted,
                namespace: &set.namespace,
                set: &set.set,
                subscription: "",
                region: "",
                counts,
                excluded: None,
                compliant_percent: counts.compliant_percent(),
            });
        }
    }
    rows
}

/// "all namespaces", "namespace x" or "set x/y".
pub fn scope_text(scope: &Scope) -> String {
    match (&scope.namespace, &scope.set) {
        (Some(ns), Some(set)) => format!("set {ns}/{set}"),
        (Some(ns), None) => format!("namespace {ns}"),
        (None, Some(set)) => format!("set {set}"),
        (None, None) => "all namespaces".to_string(),
    }
}

fn percent(p: Option<f64>) -> String {
    p.map_or_else(|| "-".to_string(), |p| format!("{p:.1}%"))
}

/// "3 of 5 targets compliant (60.0%); 1 drifted, ..." for the whole report.
fn summary_text(report: &Report) -> String {
    let s = &report.summary;
    let c = &s.counts;
    format!(
        "{} of {} targets compliant ({}); {} drifted, {} applying, {} failing, {} not covered; {} excluded.",
        c.compliant,
        c.targets,
        percent(s.compliant_percent),
        c.drifted,
        c.applying,
        c.failing,
        c.not_covered,
        s.excluded
    )
}

fn nothing_found(report: &Report) -> String {
    format!("No FlowLogPolicySet or FlowLogPolicy found in {}.", scope_text(&report.scope))
}

/// Every (namespace/set, note) of the report.
fn notes(report: &Report) -> Vec<(String, &str)> {
    report
        .sets
        .iter()
        .flat_map(|s| s.notes.iter().map(move |n| (format!("{}/{}", s.namespace, s.set), n.as_str())))
        .collect()
}

// ---------------------------------------------------------------------------------------------------------- table

/// The table's text of a coverage row's subscription and region.
fn place<'a>(row: &CoverageRow<'a>) -> (&'a str, &'a str) {
    let or_unknown = |s: &'a str| if s.is_empty() { "(unknown)" } else { s };
    match row.level {
        Level::Set => ("(all)", "(all)"),
        Level::Region => (or_unknown(row.subscription), or_unknown(row.region)),
        Level::Unlisted => ("(not listed)", "(not listed)"),
    }
}

fn count_cells(counts: &Counts) -> [String; 6] {
    [counts.targets, counts.compliant, counts.drifted, counts.applying, counts.failing, counts.not_covered]
        .map(|n| n.to_string())
}

/// Aligned columns for a terminal: a summary line, the coverage rows, the notes, and the non-compliant targets.
pub fn table(report: &Report) -> String {
    let mut out = format!("Flow-log compliance report: {}, {}\n", scope_text(&report.scope), report.generated_at);
    if report.sets.is_empty() {
        out.push_str(&nothing_found(report));
        out.push('\n');
        return out;
    }
    let _ = writeln!(out, "{}\n", summary_text(report));
    let headers = [
        "NAMESPACE",
        "SET",
        "SUBSCRIPTION",
        "REGION",
        "TARGETS",
        "COMPLIANT",
        "DRIFTED",
        "APPLYING",
        "FAILING",
        "NOT COVERED",
        "EXCLUDED",
        "COMPLIANT %",
    ];
    let rows: Vec<Vec<String>> = coverage_rows(report)
        .iter()
        .map(|r| {
            let (subscription, region) = place(r);
            let mut cells = vec![r.namespace.to_string(), r.set.to_string(), subscription.into(), region.into()];
            cells.extend(count_cells(&r.counts));
            cells.push(r.excluded.map_or_else(|| "-".to_string(), |n| n.to_string()));
            cells.push(percent(r.compliant_percent));
            cells
        })
        .collect();
    out.push_str(&aligned(&headers, &rows, 4));
    let notes = notes(report);
    if !notes.is_empty() {
        out.push_str("\nNotes:\n");
        for (set, note) in notes {
            let _ = writeln!(out, "  {set}: {}", one_line(note));
        }
    }
    out.push('\n');
    if report.non_compliant.is_empty() {
        out.push_str("Every target is compliant.\n");
        return out;
    }
    let _ = writeln!(out, "Not compliant ({}):", report.non_compliant.len());
    let headers = ["SET", "NAMESPACE", "TARGET", "SUBSCRIPTION", "REGION", "STATE", "REASON", "POLICY", "MESSAGE"];
    let dash = |s: &str| if s.is_empty() { "-".to_string() } else { s.to_string() };
    let rows: Vec<Vec<String>> = report
        .non_compliant
        .iter()
        .map(|t| {
            vec![
                t.set.clone(),
                t.namespace.clone(),
                t.target_resource_id.clone(),
                dash(&t.subscription),
                dash(&t.region),
                t.state.as_str().to_string(),
                dash(&t.reason),
                dash(t.policy.as_deref().unwrap_or_default()),
                dash(&t.message),
            ]
        })
        .collect();
    out.push_str(&aligned(&headers, &rows, usize::MAX));
    out
}

/// Columns separated by two spaces, each as wide as its widest cell; columns from `numeric_from` on are
/// right-aligned. Control characters become spaces; the last column is not padded.
pub(crate) fn aligned(headers: &[&str], rows: &[Vec<String>], numeric_from: usize) -> String {
    let rows: Vec<Vec<String>> = std::iter::once(headers.iter().map(|h| h.to_string()).collect())
        .chain(rows.iter().map(|r| r.iter().map(|c| one_line(c)).collect()))
        .collect();
    let mut widths = vec![0; headers.len()];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(width - cell.chars().count());
            if i >= numeric_from {
                line.push_str(&pad);
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&pad);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Control characters (line breaks, tabs) as spaces: one cell, one line.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

// ----------------------------------------------------------------------------------------------------------- JSON

/// The report as one JSON document (the [`Report`]'s field names, camelCase), with a final newline.
pub fn json(report: &Report) -> String {
    let mut out = serde_json::to_string_pretty(report).expect("a report always serialises");
    out.push('\n');
    out
}

// ------------------------------------------------------------------------------------------------------------ CSV

/// The header of [`csv_non_compliant`]: the JSON field names of a non-compliant target.
pub const CSV_NON_COMPLIANT_HEADER: [&str; 9] =
    ["set", "namespace", "targetResourceId", "subscription", "region", "state", "reason", "message", "policy"];

/// The header of [`csv_coverage`].
pub const CSV_COVERAGE_HEADER: [&str; 13] = [
    "level",
    "namespace",
    "set",
    "subscription",
    "region",
    "targets",
    "compliant",
    "drifted",
    "applying",
    "failing",
    "notCovered",
    "excluded",
    "compliantPercent",
];

/// One CSV record: fields with a comma, a double quote or a line break quoted, quotes doubled; CRLF at the end.
fn csv_record<S: AsRef<str>>(fields: &[S]) -> String {
    let mut line = fields
        .iter()
        .map(|f| {
            let f = f.as_ref();
            if f.contains([',', '"', '\r', '\n']) { format!("\"{}\"", f.replace('"', "\"\"")) } else { f.to_string() }
        })
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// The non-compliant targets, one record each after the header; empty fields where a value is unknown.
pub fn csv_non_compliant(report: &Report) -> String {
    let mut out = csv_record(&CSV_NON_COMPLIANT_HEADER);
    for t in &report.non_compliant {
        out.push_str(&csv_record(&target_fields(t)));
    }
    out
}

fn target_fields(t: &TargetRow) -> [&str; 9] {
    [
        &t.set,
        &t.namespace,
        &t.target_resource_id,
        &t.subscription,
        &t.region,
        t.state.as_str(),
        &t.reason,
        &t.message,
        t.policy.as_deref().unwrap_or_default(),
    ]
}

/// The coverage rows (`level`: `set`, `region` or `unlisted`), one record each after the header. A set row has
/// no subscription or region; only a set row has `excluded`; `compliantPercent` is empty without targets.
pub fn csv_coverage(report: &Report) -> String {
    let mut out = csv_record(&CSV_COVERAGE_HEADER);
    for r in coverage_rows(report) {
        let mut fields = vec![
            r.level.as_str().to_string(),
            r.namespace.to_string(),
            r.set.to_string(),
            r.subscription.to_string(),
            r.region.to_string(),
        ];
        fields.extend(count_cells(&r.counts));
        fields.push(r.excluded.map(|n| n.to_string()).unwrap_or_default());
        fields.push(r.compliant_percent.map(|p| format!("{p:.1}")).unwrap_or_default());
        out.push_str(&csv_record(&fields));
    }
    out
}

// ------------------------------------------------------------------------------------------------------- Markdown

/// An ARM ID as people recognise it: the resource group and the names after the provider (`rg/vnet/subnet`).
pub fn short_id(id: &str) -> String {
    let parts: Vec<&str> = id.split('/').collect();
    if parts.len() >= 9 {
        let rg = parts[4];
        let rest: Vec<&str> = parts[7..].iter().enumerate().filter(|(i, _)| i % 2 == 1).map(|(_, p)| *p).collect();
        format!("{rg}/{}", rest.join("/"))
    } else {
        id.to_string()
    }
}

/// Text for a Markdown table cell: the ASCII punctuation that Markdown or GitHub gives a meaning (emphasis, links,
/// HTML, entities, strikethrough, issue references, mentions, the cell separator `|`) backslash-escaped, line
/// breaks as spaces.
pub fn md_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in one_line(s).chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' | '@') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A code span for a table cell (an ARM ID reads best so); `|` escaped, which GitHub requires even in code. Text
/// that holds a backtick is escaped as text instead.
pub fn md_code(s: &str) -> String {
    if s.is_empty() {
        return String::new();
    }
    if s.contains('`') {
        return md_text(s);
    }
    format!("`{}`", one_line(s).replace('|', "\\|"))
}

pub(crate) fn md_row<S: AsRef<str>>(cells: &[S]) -> String {
    let cells: Vec<&str> = cells.iter().map(AsRef::as_ref).collect();
    format!("| {} |\n", cells.join(" | "))
}

/// Headings, a summary, the coverage table, the notes and the non-compliant targets: for a ticket or a PR comment.
pub fn markdown(report: &Report) -> String {
    let mut out = String::from("## Flow-log compliance report\n\n");
    let _ = write!(out, "{}, generated {}", md_text(&upper_first(&scope_text(&report.scope))), report.generated_at);
    if report.sets.is_empty() {
        let _ = writeln!(out, ".\n\n{}", md_text(&nothing_found(report)));
        return out;
    }
    let c = &report.summary.counts;
    let _ = writeln!(
        out,
        ": **{} of {} targets compliant ({})**; {} drifted, {} applying, {} failing, {} not covered; {} excluded.\n",
        c.compliant,
        c.targets,
        percent(report.summary.compliant_percent),
        c.drifted,
        c.applying,
        c.failing,
        c.not_covered,
        report.summary.excluded
    );
    out.push_str("### Coverage\n\n");
    out.push_str(&md_row(&[
        "Namespace",
        "Set",
        "Subscription",
        "Region",
        "Targets",
        "Compliant",
        "Drifted",
        "Applying",
        "Failing",
        "Not covered",
        "Excluded",
        "Compliant %",
    ]));
    out.push_str("|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for r in coverage_rows(report) {
        let (subscription, region) = place(&r);
        let bold = |s: &str| if r.level == Level::Set { format!("**{}**", md_text(s)) } else { md_text(s) };
        let subscription = if r.level == Level::Region && !r.subscription.is_empty() {
            md_code(subscription)
        } else {
            md_text(subscription)
        };
        let mut cells = vec![md_text(r.namespace), bold(r.set), subscription, md_text(region)];
        cells.extend(count_cells(&r.counts));
        cells.push(r.excluded.map_or_else(|| "-".to_string(), |n| n.to_string()));
        cells.push(percent(r.compliant_percent));
        out.push_str(&md_row(&cells));
    }
    let notes = notes(report);
    if !notes.is_empty() {
        out.push_str("\n### Notes\n\n");
        for (set, note) in notes {
            let _ = writeln!(out, "- {}: {}", md_code(&set), md_text(note));
        }
    }
    out.push('\n');
    if report.non_compliant.is_empty() {
        out.push_str("Every target is compliant.\n");
        return out;
    }
    let _ = writeln!(out, "### Not compliant ({})\n", report.non_compliant.len());
    out.push_str(&md_row(&[
        "Set",
        "Namespace",
        "Target",
        "Subscription",
        "Region",
        "State",
        "Reason",
        "Message",
        "Policy",
    ]));
    out.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for t in &report.non_compliant {
        let cells = [
            md_text(&t.set),
            md_text(&t.namespace),
            md_code(&t.target_resource_id),
            md_code(&t.subscription),
            md_text(&t.region),
            md_text(t.state.as_str()),
            md_text(&t.reason),
            md_text(&t.message),
            md_code(t.policy.as_deref().unwrap_or_default()),
        ];
        out.push_str(&md_row(&cells));
    }
    out
}

fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests;
