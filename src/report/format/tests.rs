//! Every format on the same reports: one with a bit of everything (awkward characters included), an empty one, and
//! one where everything is compliant.

use super::*;
use crate::report::{Ready, RegionCoverage, SetCoverage, Source, State, Summary};

const SUB: &str = "00000000-0000-0000-0000-000000000001";

fn vnet(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/{name}")
}

fn counts(targets: u32, compliant: u32, drifted: u32, applying: u32, failing: u32, not_covered: u32) -> Counts {
    Counts { targets, compliant, drifted, applying, failing, not_covered }
}

fn region(subscription: &str, region: &str, counts: Counts) -> RegionCoverage {
    RegionCoverage {
        subscription: subscription.into(),
        region: region.into(),
        counts,
        compliant_percent: counts.compliant_percent(),
    }
}

fn target(set: &str, name: &str, region: &str, state: State, reason: &str, message: &str) -> TargetRow {
    TargetRow {
        set: set.into(),
        namespace: "team-a".into(),
        target_resource_id: vnet(name),
        subscription: SUB.into(),
        region: region.into(),
        state,
        reason: reason.into(),
        message: message.into(),
        policy: (state != State::NotCovered)
            .then(|| format!("{}-{name}", if set == POLICIES_SET { "independent" } else { set })),
    }
}

/// Set `vnets` (4 targets in two regions, one more not listed), the namespace's independent policies (1, drifted).
fn sample() -> Report {
    let vnets = counts(5, 1, 0, 1, 1, 2);
    let policies = counts(1, 0, 1, 0, 0, 0);
    let mut total = vnets;
    total.plus(&policies);
    Report {
        generated_at: "2026-01-01T00:00:00Z".into(),
        scope: Scope::default(),
        summary: Summary { sets: 2, counts: total, excluded: 3, compliant_percent: total.compliant_percent() },
        sets: vec![
            SetCoverage {
                namespace: "team-a".into(),
                set: "vnets".into(),
                source: Source::FlowLogPolicySet,
                counts: vnets,
                excluded: 3,
                compliant_percent: vnets.compliant_percent(),
                not_covered_unlisted: 1,
                ready: Some(Ready { status: "False".into(), reason: "NotCompliant".into(), message: "1 of 5".into() }),
                discovery: None,
                notes: vec!["21 targets have no policy | see status".into()],
                regions: vec![
                    region(SUB, "eastus", counts(1, 0, 0, 0, 0, 1)),
                    region(SUB, "westeurope", counts(3, 1, 0, 1, 1, 0)),
                ],
            },
            SetCoverage {
                namespace: "team-a".into(),
                set: POLICIES_SET.into(),
                source: Source::FlowLogPolicy,
                counts: policies,
                excluded: 0,
                compliant_percent: policies.compliant_percent(),
                not_covered_unlisted: 0,
                ready: None,
                discovery: None,
                notes: vec![],
                regions: vec![region(SUB, "", policies)],
            },
        ],
        non_compliant: vec![
            target("vnets", "a", "westeurope", State::Applying, "Applying", ""),
            target(
                "vnets",
                "b",
                "westeurope",
                State::Failing,
                "AuthorizationFailed",
                "The client \"x\" has no access, see <docs> | retry *later*\nsecond_line, ok",
            ),
            target("vnets", "east", "eastus", State::NotCovered, "NoStorageForRegion", "the target is in eastus, …"),
            target(POLICIES_SET, "d", "", State::Drifted, "Drifted", "retention: 7 → 30"),
        ],
    }
}

const POLICIES_SET: &str = crate::report::POLICIES;

fn empty() -> Report {
    Report {
        generated_at: "2026-01-01T00:00:00Z".into(),
        scope: Scope { namespace: Some("team-z".into()), set: None },
        summary: Summary::default(),
        sets: vec![],
        non_compliant: vec![],
    }
}

fn all_compliant() -> Report {
    let c = counts(2, 2, 0, 0, 0, 0);
    let mut report = sample();
    report.sets.truncate(1);
    report.sets[0].counts = c;
    report.sets[0].compliant_percent = c.compliant_percent();
    report.sets[0].not_covered_unlisted = 0;
    report.sets[0].notes.clear();
    report.sets[0].regions = vec![region(SUB, "westeurope", c)];
    report.summary = Summary { sets: 1, counts: c, excluded: 3, compliant_percent: c.compliant_percent() };
    report.non_compliant.clear();
    report
}

// ---------------------------------------------------------------------------------------------------------- rows

#[test]
fn coverage_rows_are_each_set_then_its_regions_then_what_status_does_not_list() {
    let report = sample();
    let rows = coverage_rows(&report);
    let shape: Vec<(Level, &str, &str, u32)> =
        rows.iter().map(|r| (r.level, r.set, r.region, r.counts.targets)).collect();
    assert_eq!(
        shape,
        [
            (Level::Set, "vnets", "", 5),
            (Level::Region, "vnets", "eastus", 1),
            (Level::Region, "vnets", "westeurope", 3),
            (Level::Unlisted, "vnets", "", 1),
            (Level::Set, POLICIES_SET, "", 1),
            (Level::Region, POLICIES_SET, "", 1),
        ]
    );
    assert_eq!(rows[0].excluded, Some(3));
    assert!(rows[1..4].iter().all(|r| r.excluded.is_none()), "exclusions are known per set only");
    assert_eq!(rows[3].counts, counts(1, 0, 0, 0, 0, 1));
    assert!(coverage_rows(&empty()).is_empty());
}

// --------------------------------------------------------------------------------------------------------- table

#[test]
fn the_table_aligns_its_columns_and_lists_every_non_compliant_target() {
    let out = table(&sample());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Flow-log compliance report: all namespaces, 2026-01-01T00:00:00Z");
    assert_eq!(
        lines[1],
        "1 of 6 targets compliant (16.6%); 1 drifted, 1 applying, 1 failing, 2 not covered; 3 excluded."
    );
    // The coverage block: a header and six rows, every column starting where its header does.
    let header = lines.iter().position(|l| l.starts_with("NAMESPACE")).unwrap();
    let block = &lines[header..header + 7];
    let start_of = |line: &str, word: &str| line.find(word).unwrap();
    assert_eq!(start_of(block[1], "vnets"), start_of(block[0], "SET"));
    assert_eq!(start_of(block[2], SUB), start_of(block[0], "SUBSCRIPTION"));
    for row in &block[1..] {
        // Numbers are right-aligned: each row is as long as the header (the last column is the percentage).
        assert_eq!(row.len(), block[0].len(), "{row:?}\n{:?}", block[0]);
    }
    assert!(block[1].contains("(all)") && block[1].ends_with("20.0%"), "{}", block[1]);
    assert!(block[3].contains("westeurope"), "{}", block[3]);
    assert!(block[4].contains("(not listed)"), "{}", block[4]);
    assert!(block[6].contains("(unknown)") && block[6].ends_with("0.0%"), "{}", block[6]);
    assert!(out.contains("Notes:\n  team-a/vnets: 21 targets have no policy | see status\n"), "{out}");

    let listed = lines.iter().position(|l| *l == "Not compliant (4):").unwrap();
    let head = lines[listed + 1];
    assert!(head.starts_with("SET") && head.ends_with("MESSAGE"), "{head}");
    let rows = &lines[listed + 2..];
    assert_eq!(rows.len(), 4, "{out}");
    let target_column = head.find("TARGET").unwrap();
    for (row, name) in rows.iter().zip(["a", "b", "east", "d"]) {
        assert_eq!(&row[target_column..target_column + vnet(name).len()], vnet(name), "{row}");
    }
    // A message's line break does not break the row; missing values read "-".
    assert!(rows[1].ends_with("retry *later* second_line, ok"), "{}", rows[1]);
    let (policy, message) = (head.find("POLICY").unwrap(), head.find("MESSAGE").unwrap());
    assert!(rows[2][policy..].starts_with("- "), "no policy: {}", rows[2]);
    assert_eq!(&rows[0][message..], "-", "no message: {}", rows[0]);
    assert_eq!(&rows[0][policy..policy + 8], "vnets-a ");
}

#[test]
fn the_table_of_an_empty_or_compliant_report_says_so() {
    assert_eq!(
        table(&empty()),
        "Flow-log compliance report: namespace team-z, 2026-01-01T00:00:00Z\n\
         No FlowLogPolicySet or FlowLogPolicy found in namespace team-z.\n"
    );
    let out = table(&all_compliant());
    assert!(out.ends_with("\nEvery target is compliant.\n"), "{out}");
    assert!(!out.contains("Not compliant") && !out.contains("Notes:"), "{out}");
}

// ---------------------------------------------------------------------------------------------------------- JSON

#[test]
fn json_is_one_document_with_the_documented_field_names() {
    let report = sample();
    let out = json(&report);
    assert!(out.ends_with("}\n"));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&v), ["generatedAt", "nonCompliant", "scope", "sets", "summary"]);
    assert_eq!(keys(&v["scope"]), ["namespace", "set"]);
    let counted = ["applying", "compliant", "drifted", "failing", "notCovered", "targets"];
    let with = |extra: &[&str]| {
        let mut k: Vec<String> = counted.iter().chain(extra).map(|s| s.to_string()).collect();
        k.sort();
        k
    };
    assert_eq!(keys(&v["summary"]), with(&["compliantPercent", "excluded", "sets"]));
    assert_eq!(
        keys(&v["sets"][0]),
        with(&[
            "compliantPercent",
            "discovery",
            "excluded",
            "namespace",
            "notCoveredUnlisted",
            "notes",
            "ready",
            "regions",
            "set",
            "source"
        ])
    );
    assert_eq!(keys(&v["sets"][0]["regions"][0]), with(&["compliantPercent", "region", "subscription"]));
    assert_eq!(
        keys(&v["nonCompliant"][0]),
        ["message", "namespace", "policy", "reason", "region", "set", "state", "subscription", "targetResourceId"]
    );
    assert_eq!(v["sets"][0]["source"], "FlowLogPolicySet");
    assert_eq!(v["sets"][1]["source"], "FlowLogPolicy");
    assert_eq!(v["sets"][1]["set"], "(policies)");
    assert_eq!(v["sets"][0]["compliantPercent"], 20.0);
    assert_eq!(v["summary"]["notCovered"], 2);
    assert_eq!(v["nonCompliant"][2]["state"], "notCovered");
    assert_eq!(v["nonCompliant"][2]["policy"], serde_json::Value::Null);
    // It reads back as the same report (any consumer in Rust can use the types).
    assert_eq!(serde_json::from_str::<Report>(&out).unwrap(), report);

    let v: serde_json::Value = serde_json::from_str(&json(&empty())).unwrap();
    assert_eq!(v["sets"], serde_json::json!([]));
    assert_eq!(v["nonCompliant"], serde_json::json!([]));
    assert_eq!(v["summary"]["targets"], 0);
    assert_eq!(v["summary"]["compliantPercent"], serde_json::Value::Null);
    assert_eq!(v["scope"]["namespace"], "team-z");
}

// ----------------------------------------------------------------------------------------------------------- CSV

/// An RFC 4180 reader, strict: CRLF after every record, quotes only around a whole field.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => {
                quoted = false;
                assert!(matches!(chars.peek(), Some(',') | Some('\r')), "text after a closing quote");
            }
            (true, c) => field.push(c),
            (false, '"') => {
                assert!(field.is_empty(), "a quote inside an unquoted field");
                quoted = true;
            }
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, '\n') => panic!("a bare LF ends a record"),
            (false, c) => field.push(c),
        }
    }
    assert!(!quoted && field.is_empty() && record.is_empty(), "the text ends inside a record");
    records
}

#[test]
fn csv_of_the_non_compliant_targets_quotes_as_rfc_4180_says() {
    let report = sample();
    let out = csv_non_compliant(&report);
    assert!(out.starts_with("set,namespace,targetResourceId,subscription,region,state,reason,message,policy\r\n"));
    let records = parse_csv(&out);
    assert_eq!(records.len(), 5);
    assert!(records.iter().all(|r| r.len() == 9), "{records:?}");
    // Every field reads back exactly, commas, quotes and line breaks included.
    for (record, t) in records[1..].iter().zip(&report.non_compliant) {
        let expected: Vec<&str> = target_fields(t).to_vec();
        assert_eq!(record, &expected);
    }
    assert!(out.contains(r#","The client ""x"" has no access, see <docs> | retry *later*"#), "{out}");
    assert_eq!(records[3][8], "", "no policy: an empty field");
    assert_eq!(records[1][5], "applying");
    assert_eq!(csv_record(&["plain", ""]), "plain,\r\n", "only what needs it is quoted");
    assert_eq!(csv_record(&["a\rb"]), "\"a\rb\"\r\n");

    assert_eq!(parse_csv(&csv_non_compliant(&empty())), [CSV_NON_COMPLIANT_HEADER.map(String::from).to_vec()]);
}

#[test]
fn csv_of_the_coverage_has_a_record_per_row_with_its_level() {
    let out = render(&sample(), Format::Csv, CsvRows::Coverage);
    let records = parse_csv(&out);
    assert_eq!(records[0], CSV_COVERAGE_HEADER.map(String::from).to_vec());
    let body: Vec<String> = records[1..].iter().map(|r| r.join(",")).collect();
    assert_eq!(
        body,
        [
            "set,team-a,vnets,,,5,1,0,1,1,2,3,20.0".to_string(),
            format!("region,team-a,vnets,{SUB},eastus,1,0,0,0,0,1,,0.0"),
            format!("region,team-a,vnets,{SUB},westeurope,3,1,0,1,1,0,,33.3"),
            "unlisted,team-a,vnets,,,1,0,0,0,0,1,,0.0".to_string(),
            "set,team-a,(policies),,,1,0,1,0,0,0,0,0.0".to_string(),
            format!("region,team-a,(policies),{SUB},,1,0,1,0,0,0,,0.0"),
        ]
    );
    assert_eq!(parse_csv(&csv_coverage(&empty())).len(), 1, "the header alone");
}

// ------------------------------------------------------------------------------------------------------ Markdown

/// The cells of a Markdown table row: split at `|` that are not backslash-escaped.
fn md_cells(line: &str) -> Vec<String> {
    assert!(line.starts_with("| ") && line.ends_with(" |"), "{line}");
    let inner = &line[2..line.len() - 2];
    let mut cells = vec![String::new()];
    let mut escaped = false;
    for c in inner.chars() {
        if c == '|' && !escaped {
            cells.push(String::new());
        } else {
            cells.last_mut().unwrap().push(c);
        }
        escaped = c == '\\' && !escaped;
    }
    cells.into_iter().map(|c| c.trim().to_string()).collect()
}

#[test]
fn markdown_has_headings_tables_and_escaped_cells() {
    let out = markdown(&sample());
    assert!(out.starts_with("## Flow-log compliance report\n\nAll namespaces, generated 2026-01-01T00:00:00Z: "));
    assert!(out.contains("**1 of 6 targets compliant (16.6%)**"), "{out}");
    for heading in ["\n### Coverage\n", "\n### Notes\n", "\n### Not compliant (4)\n"] {
        assert!(out.contains(heading), "missing {heading:?} in {out}");
    }
    // Every table row has as many cells as its header.
    let mut tables = Vec::new();
    for block in out.split("\n\n") {
        if block.starts_with("| ") {
            let lines: Vec<&str> = block.lines().collect();
            let width = md_cells(lines[0]).len();
            assert!(lines[1].starts_with("|---"), "{block}");
            for line in &lines[2..] {
                assert_eq!(md_cells(line).len(), width, "{line}");
            }
            tables.push(lines);
        }
    }
    assert_eq!(tables.len(), 2, "{out}");
    assert_eq!(tables[0].len(), 2 + 6, "header, separator, six coverage rows");
    assert_eq!(tables[1].len(), 2 + 4, "header, separator, four targets");
    assert_eq!(md_cells(tables[0][2])[..4], ["team-a", "**vnets**", "(all)", "(all)"]);
    assert_eq!(md_cells(tables[0][4])[2], format!("`{SUB}`"));
    assert_eq!(md_cells(tables[0][5])[2], "(not listed)");

    let failing = md_cells(tables[1][3]);
    assert_eq!(failing[2], format!("`{}`", vnet("b")), "IDs as code");
    assert_eq!(
        failing[7], r#"The client "x" has no access, see \<docs\> \| retry \*later\* second\_line, ok"#,
        "a pipe, emphasis and HTML escaped, the line break a space"
    );
    assert_eq!(failing[8], "`vnets-b`");
    assert_eq!(md_cells(tables[1][4])[8], "", "no policy");
    assert!(out.contains("- `team-a/vnets`: 21 targets have no policy \\| see status\n"), "{out}");
}

#[test]
fn markdown_escapes_what_markdown_and_github_would_read() {
    assert_eq!(md_text("a|b"), r"a\|b");
    assert_eq!(
        md_text(r"C:\x *y* _z_ [l](u) <b> ~s~ &amp; #12 @team"),
        r"C:\\x \*y\* \_z\_ \[l\](u) \<b\> \~s\~ \&amp; \#12 \@team"
    );
    assert_eq!(md_text("two\nlines\ttab"), "two lines tab");
    assert_eq!(md_code("/a|b"), r"`/a\|b`");
    assert_eq!(md_code("has ` tick"), r"has \` tick", "no code span around a backtick");
    assert_eq!(md_code(""), "");
}

#[test]
fn markdown_of_an_empty_or_compliant_report_says_so() {
    assert_eq!(
        markdown(&empty()),
        "## Flow-log compliance report\n\nNamespace team-z, generated 2026-01-01T00:00:00Z.\n\n\
         No FlowLogPolicySet or FlowLogPolicy found in namespace team-z.\n"
    );
    let out = markdown(&all_compliant());
    assert!(out.ends_with("\n\nEvery target is compliant.\n"), "{out}");
    assert!(!out.contains("### Not compliant") && !out.contains("### Notes"), "{out}");
}

#[test]
fn render_picks_the_format() {
    let report = sample();
    assert_eq!(render(&report, Format::Table, CsvRows::Coverage), table(&report));
    assert_eq!(render(&report, Format::Json, CsvRows::Coverage), json(&report));
    assert_eq!(render(&report, Format::Csv, CsvRows::NonCompliant), csv_non_compliant(&report));
    assert_eq!(render(&report, Format::Markdown, CsvRows::NonCompliant), markdown(&report));
}
