//! The Grafana dashboard the chart ships (`charts/flowlog-operator/dashboards/flowlog-operator.json`): every query
//! names metrics the operator exports, every metric it exports is on a panel, and the chart renders the dashboard as
//! a ConfigMap for Grafana's dashboard sidecar. No control plane.
//!
//! The exported names are not a list kept by hand: they come from the operator's own metrics (`Metrics`, the
//! registry `/metrics` serves), with one sample of every family recorded and rendered to the text exposition. This
//! test binary installs the operator binary's counting allocator, so `flowlog_heap_bytes` is exported here as there.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::chart::{CHART, all_of, find, render, template};
use flowlog_operator::api::{FlowLogPolicy, FlowLogPolicySet};
use flowlog_operator::controller::CachedPolicy;
use flowlog_operator::controller::metrics::Metrics;
use flowlog_operator::heap::Counting;
use serde_json::{Value, json};

/// The operator binary's allocator (src/main.rs): with it, the registry has `flowlog_heap_bytes`.
#[global_allocator]
static ALLOCATOR: Counting<std::alloc::System> = Counting(std::alloc::System);

const DASHBOARD: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/charts/flowlog-operator/dashboards/flowlog-operator.json");

/// Families the operator exports that no panel shows on purpose, with the reason. Empty: every one is shown.
const NOT_ON_THE_DASHBOARD: &[(&str, &str)] = &[];

// ---------------------------------------------------------------------------------------------- the exporter

/// What `/metrics` exports: each family (the `# TYPE` name) with its type, and the sample names PromQL sees (a
/// counter's `_total`, a histogram's `_bucket`, `_sum` and `_count`), each with its family.
struct Exported {
    families: BTreeMap<String, String>,
    samples: BTreeMap<String, String>,
}

/// Records one sample of every family through the operator's own API and parses the rendering.
fn exported() -> Exported {
    let metrics = Metrics::default();
    metrics.reconciled("in_sync", Instant::now());
    metrics.arm_request("listFlowLogs", 200, Duration::from_millis(5));
    metrics.throttled(Duration::from_millis(10));
    metrics.drift_detected.inc();
    metrics.drift_corrected.inc();
    metrics.leader.set(1);
    metrics.storage_request(200);
    metrics.logs_last_write("team", "web", Some(1_796_000_000));
    let mut policy = FlowLogPolicy::new("web", common::web_nsg_spec(30, "10m"));
    policy.status = Some(
        serde_json::from_value(json!({"conditions": [{"type": "Ready", "status": "True", "reason": "InSync",
            "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}))
        .unwrap(),
    );
    let set: FlowLogPolicySet = serde_json::from_value(json!({
        "apiVersion": "flowlog.dev/v1alpha1", "kind": "FlowLogPolicySet",
        "metadata": {"name": "vnets", "namespace": "team"},
        "spec": {"selector": {"subscriptions": [common::SUB], "kind": "VirtualNetwork"},
                 "destinations": [], "template": {"flowLog": {"enabled": true}}},
        "status": {"targets": 3, "compliant": 2, "failing": 1},
    }))
    .unwrap();
    parse_exposition(&metrics.render([&CachedPolicy::from(policy)], [&set]))
}

/// The families and sample names of an OpenMetrics text exposition.
fn parse_exposition(text: &str) -> Exported {
    let mut families = BTreeMap::new();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line {line:?}"));
            families.insert(name.to_string(), kind.to_string());
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or_else(|| panic!("bad sample line {line:?}"));
            names.insert(line[..end].to_string());
        }
    }
    let suffixes = ["", "_total", "_bucket", "_sum", "_count", "_created", "_info"];
    let samples = names
        .into_iter()
        .map(|name| {
            let family = families
                .keys()
                .filter(|f| name.strip_prefix(f.as_str()).is_some_and(|rest| suffixes.contains(&rest)))
                .max_by_key(|f| f.len())
                .unwrap_or_else(|| panic!("sample {name} belongs to no # TYPE family:\n{text}"));
            (name.clone(), family.clone())
        })
        .collect();
    Exported { families, samples }
}

/// Every family renders at least one sample (a family added to `Metrics` must get a sample in [`exported`]).
#[test]
fn every_family_of_the_operator_renders_samples() {
    let exported = exported();
    assert!(exported.families.len() >= 10, "{:?}", exported.families);
    let with_samples: BTreeSet<&String> = exported.samples.values().collect();
    let silent: Vec<&String> = exported.families.keys().filter(|f| !with_samples.contains(f)).collect();
    assert!(silent.is_empty(), "record a sample of {silent:?} in exported(), so that the dashboard check sees it");
    // Parsed as PromQL will name them: a counter by its `_total`, a histogram by its series.
    for name in ["flowlog_reconciles_total", "flowlog_reconcile_duration_seconds_bucket", "flowlog_heap_bytes"] {
        assert!(exported.samples.contains_key(name), "{name} in {:?}", exported.samples.keys());
    }
    assert_eq!(exported.families["flowlog_reconciles"], "counter");
    assert_eq!(exported.families["flowlog_arm_request_duration_seconds"], "histogram");
}

// --------------------------------------------------------------------------------------------------- PromQL

/// Words that are PromQL syntax, never a metric: the aggregations (also when written `sum by (x) (...)`, with no
/// parenthesis right after the word), the keyword operators, `offset`, and the number literals `Inf` and `NaN`.
const NOT_METRICS: &str = "sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk \
                           limit_ratio bool and or unless atan2 offset inf nan";

/// Modifiers followed by a list of label names in parentheses.
const LABEL_LISTS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

/// The metric names a PromQL expression (with Grafana's `$variables`) selects: identifiers that are not functions
/// (followed by `(`), keywords, label names in `{...}` or in `by (...)` and its kin, strings, numbers, durations in
/// `[...]`, or Grafana variables.
fn metric_names(expr: &str) -> Result<BTreeSet<String>, String> {
    let c: Vec<char> = expr.chars().collect();
    let ident = |ch: char| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':';
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '"' | '\'' | '`' => i = skip_string(&c, i)?,
            '{' | '[' => i = skip_group(&c, i)?,
            '$' => {
                i += 1;
                if c.get(i) == Some(&'{') {
                    i = skip_group(&c, i)?;
                } else {
                    while i < c.len() && ident(c[i]) {
                        i += 1;
                    }
                }
            }
            ch if ch.is_ascii_digit() || (ch == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit)) => {
                while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.' || c[i] == '_') {
                    i += 1;
                }
            }
            ch if ident(ch) => {
                let start = i;
                while i < c.len() && ident(c[i]) {
                    i += 1;
                }
                let word: String = c[start..i].iter().collect();
                let mut next = i;
                while next < c.len() && c[next].is_whitespace() {
                    next += 1;
                }
                let call = c.get(next) == Some(&'(');
                if LABEL_LISTS.contains(&word.as_str()) {
                    if call {
                        i = skip_group(&c, next)?;
                    }
                } else if !call && !NOT_METRICS.split_whitespace().any(|w| w == word.to_lowercase()) {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    Ok(names)
}

/// The index after the string that starts at `start` (a quote, backslash escapes inside but in backticks).
fn skip_string(c: &[char], start: usize) -> Result<usize, String> {
    let quote = c[start];
    let mut i = start + 1;
    while i < c.len() {
        match c[i] {
            '\\' if quote != '`' => i += 2,
            ch if ch == quote => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(format!("unterminated string at {start}"))
}

/// The index after the bracketed group (`{}`, `[]` or `()`, nested, strings inside) that starts at `start`.
fn skip_group(c: &[char], start: usize) -> Result<usize, String> {
    let (open, close) = match c[start] {
        '{' => ('{', '}'),
        '[' => ('[', ']'),
        '(' => ('(', ')'),
        other => return Err(format!("no group at {start}: {other:?}")),
    };
    let mut depth = 0;
    let mut i = start;
    while i < c.len() {
        match c[i] {
            '"' | '\'' | '`' => {
                i = skip_string(c, i)?;
                continue;
            }
            ch if ch == open => depth += 1,
            ch if ch == close => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err(format!("unclosed {open:?} at {start}"))
}

/// The PromQL inside a Grafana Prometheus variable query: `label_values(selector, label)` → `selector`,
/// `query_result(expr)` → `expr`; `label_values(label)` and `label_names()` select no metric.
fn variable_promql(query: &str) -> Result<Option<String>, String> {
    let q = query.trim();
    let inner = |prefix: &str| q.strip_prefix(prefix).and_then(|r| r.strip_suffix(')'));
    if let Some(args) = inner("label_values(") {
        let c: Vec<char> = args.chars().collect();
        let mut i = 0;
        let mut last_comma = None;
        while i < c.len() {
            match c[i] {
                '"' | '\'' | '`' => i = skip_string(&c, i)?,
                '{' | '[' | '(' => i = skip_group(&c, i)?,
                ',' => {
                    last_comma = Some(i);
                    i += 1;
                }
                _ => i += 1,
            }
        }
        Ok(last_comma.map(|at| c[..at].iter().collect()))
    } else if let Some(expr) = inner("query_result(") {
        Ok(Some(expr.to_string()))
    } else if q.starts_with("label_names(") {
        Ok(None)
    } else {
        Err(format!("a variable query this test does not read: {q:?}"))
    }
}

#[test]
fn metric_names_are_found_in_promql() {
    let names = |e: &str| metric_names(e).unwrap().into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(r#"histogram_quantile(0.99, sum by (le) (rate(a_bucket{job=~"$job", x="b(c}"}[$__rate_interval])))"#),
        ["a_bucket"]
    );
    assert_eq!(names("sum without (pod) (a) / on (x) group_left (y) b offset 5m > bool 2"), ["a", "b"]);
    assert_eq!(names("sum(increase(c_total[$__range])) or vector(0)"), ["c_total"]);
    assert_eq!(names("max by(namespace)(m) and ignoring(i) n unless o:rule"), ["m", "n", "o:rule"]);
    assert_eq!(names("1e3 * x / ${var} + .5 - y[5m:1m] * Inf"), ["x", "y"]);
    assert_eq!(names(r#"count(m{state='a"b'}) > 0x1F"#), ["m"]);
    assert!(metric_names(r#"m{a="b}"#).is_err(), "an unterminated string is an error, not a pass");
    assert_eq!(
        variable_promql(r#"label_values(m{a=~"$b", c="d,e"}, ns)"#).unwrap().as_deref(),
        Some(r#"m{a=~"$b", c="d,e"}"#)
    );
    assert_eq!(variable_promql("label_values(ns)").unwrap(), None);
    assert!(variable_promql("metrics(flowlog_.*)").is_err());
}

// ------------------------------------------------------------------------------------------------ dashboard

fn dashboard() -> Value {
    serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).expect("the dashboard is JSON")
}

/// Every panel, rows' nested panels included, with each one's gridPos.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Each query of the dashboard: where it is, its PromQL, and whether a panel shows it.
fn queries(dashboard: &Value) -> Result<Vec<(String, String, bool)>, String> {
    let mut out = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().ok_or(format!("panel {}: a target without expr", panel["title"]))?;
            out.push((format!("panel {} {}", panel["title"], target["refId"]), expr.to_string(), true));
        }
    }
    for annotation in dashboard["annotations"]["list"].as_array().into_iter().flatten() {
        if let Some(expr) = annotation["expr"].as_str() {
            out.push((format!("annotation {}", annotation["name"]), expr.to_string(), false));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        if variable["type"] != "query" {
            continue;
        }
        let name = &variable["name"];
        let query = variable["query"]["query"].as_str().or(variable["query"].as_str());
        for (what, text) in [("query", query), ("definition", variable["definition"].as_str())] {
            if let Some(promql) = variable_promql(text.unwrap_or_default())? {
                out.push((format!("variable {name} {what}"), promql, false));
            }
        }
    }
    Ok(out)
}

/// What is wrong between the dashboard's queries and what the operator exports: metrics it does not export, and
/// families no panel shows (other than [`NOT_ON_THE_DASHBOARD`]).
fn problems(dashboard: &Value, exported: &Exported) -> Vec<String> {
    let mut problems = Vec::new();
    let mut shown = BTreeSet::new();
    let queries = match queries(dashboard) {
        Ok(q) => q,
        Err(e) => return vec![e],
    };
    for (place, expr, on_a_panel) in &queries {
        match metric_names(expr) {
            Err(e) => problems.push(format!("{place}: {e} in {expr}")),
            Ok(names) if names.is_empty() => problems.push(format!("{place}: no metric in {expr}")),
            Ok(names) => {
                for name in names {
                    match exported.samples.get(&name) {
                        None => problems.push(format!("{place}: {name} is not exported by the operator ({expr})")),
                        Some(family) if *on_a_panel => {
                            shown.insert(family.clone());
                        }
                        Some(_) => {}
                    }
                }
            }
        }
    }
    for family in exported.families.keys() {
        let left_out = NOT_ON_THE_DASHBOARD.iter().any(|(f, _)| f == family);
        if !shown.contains(family) && !left_out {
            problems.push(format!("{family} is on no panel (or add it to NOT_ON_THE_DASHBOARD with a reason)"));
        }
        if shown.contains(family) && left_out {
            problems.push(format!("{family} is on a panel: remove it from NOT_ON_THE_DASHBOARD"));
        }
    }
    problems
}

#[test]
fn every_query_names_an_exported_metric_and_every_metric_is_shown() {
    let dashboard = dashboard();
    let exported = exported();
    let queries = queries(&dashboard).unwrap();
    assert!(queries.iter().filter(|(_, _, panel)| *panel).count() >= 20, "{queries:?}");
    let problems = problems(&dashboard, &exported);
    assert!(problems.is_empty(), "charts/flowlog-operator/dashboards/flowlog-operator.json:\n{problems:#?}");
    for (family, reason) in NOT_ON_THE_DASHBOARD {
        assert!(exported.families.contains_key(*family), "{family} ({reason}) is not exported any more");
    }
}

/// The check above fails when it should: a misspelt metric, and a family that drops off the dashboard.
#[test]
fn the_dashboard_check_catches_a_misspelt_metric_and_a_missing_one() {
    let text = std::fs::read_to_string(DASHBOARD).unwrap();
    let exported = exported();
    let misspelt: Value =
        serde_json::from_str(&text.replacen("flowlog_drift_corrected_total", "flowlog_drift_correct_total", 1))
            .unwrap();
    let found = problems(&misspelt, &exported);
    assert!(found.iter().any(|p| p.contains("flowlog_drift_correct_total is not exported")), "{found:#?}");

    let mut without_heap = dashboard();
    fn drop_heap(list: &mut Value) {
        if let Some(panels) = list.as_array_mut() {
            panels.retain(|p| !p["targets"].to_string().contains("flowlog_heap_bytes"));
            for p in panels {
                drop_heap(&mut p["panels"]);
            }
        }
    }
    drop_heap(&mut without_heap["panels"]);
    let found = problems(&without_heap, &exported);
    assert_eq!(found, ["flowlog_heap_bytes is on no panel (or add it to NOT_ON_THE_DASHBOARD with a reason)"]);
}

/// The dashboard works with any Prometheus data source (a `datasource` variable every panel and query uses), has
/// the set filters, stable identity, and panels that do not overlap.
#[test]
fn the_dashboard_uses_its_variables_and_a_clean_layout() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "flowlog-operator");
    assert!(dashboard["id"].is_null(), "no database ID: Grafana assigns one");
    let variables: BTreeMap<&str, &Value> =
        dashboard["templating"]["list"].as_array().unwrap().iter().map(|v| (v["name"].as_str().unwrap(), v)).collect();
    assert_eq!(variables["datasource"]["type"], "datasource");
    assert_eq!(variables["datasource"]["query"], "prometheus");
    for (name, label) in [("namespace", "namespace"), ("set", "set")] {
        let query = variables[name]["query"]["query"].as_str().unwrap();
        assert!(query.starts_with("label_values(flowlog_set_targets") && query.ends_with(&format!(", {label})")));
        assert_eq!(variables[name]["definition"].as_str(), Some(query), "{name}");
    }
    let uses_datasource = |v: &Value| v["datasource"] == json!({"type": "prometheus", "uid": "${datasource}"});
    for v in variables.values().filter(|v| v["type"] == "query") {
        assert!(uses_datasource(v), "variable {}", v["name"]);
    }
    let mut ids = BTreeSet::new();
    let mut areas: Vec<(&Value, [i64; 4])> = Vec::new();
    for panel in panels(&dashboard) {
        let title = &panel["title"];
        assert!(ids.insert(panel["id"].as_i64().unwrap()), "panel id {} twice", panel["id"]);
        assert!(title.as_str().is_some_and(|t| !t.is_empty()), "a panel without title: {panel}");
        let g = &panel["gridPos"];
        let area = ["x", "y", "w", "h"].map(|k| g[k].as_i64().unwrap_or_else(|| panic!("{title}: gridPos.{k}")));
        assert!(area[0] + area[2] <= 24, "{title} is wider than the grid");
        for (other, o) in &areas {
            let apart = area[0] + area[2] <= o[0]
                || o[0] + o[2] <= area[0]
                || area[1] + area[3] <= o[1]
                || o[1] + o[3] <= area[1];
            assert!(apart, "{title} overlaps {}", other["title"]);
        }
        areas.push((title, area));
        if panel["type"] == "row" {
            continue;
        }
        assert!(uses_datasource(panel), "{title}: datasource {}", panel["datasource"]);
        assert!(panel["description"].as_str().is_some_and(|d| !d.is_empty()), "{title}: say what it shows");
        let targets = panel["targets"].as_array().unwrap_or_else(|| panic!("{title}: no targets"));
        assert!(!targets.is_empty(), "{title}: no targets");
        for t in targets {
            assert!(uses_datasource(t), "{title} {}: datasource {}", t["refId"], t["datasource"]);
        }
        // The set panels follow the set filters.
        for t in targets.iter().filter(|t| t["expr"].as_str().unwrap().contains("flowlog_set_targets")) {
            let expr = t["expr"].as_str().unwrap();
            assert!(expr.contains(r#"namespace=~"$namespace""#) && expr.contains(r#"set=~"$set""#), "{title}: {expr}");
        }
    }
}

// -------------------------------------------------------------------------------------------------- the chart

const WI: &str = "ci/workload-identity-values.yaml";

/// `dashboard.enabled`: one ConfigMap with the sidecar's label, whose data is the dashboard file byte for byte;
/// label, value, namespace and annotations are values; off by default.
#[test]
fn the_chart_ships_the_dashboard_for_the_grafana_sidecar() {
    let file = std::fs::read_to_string(DASHBOARD).unwrap();
    let d = render("fo", "sys", &[WI], &["dashboard.enabled=true"]);
    let configmaps = all_of(&d, "ConfigMap");
    assert_eq!(configmaps.len(), 1, "{configmaps:?}");
    let cm = find(&d, "ConfigMap", Some("fo-flowlog-operator-dashboard"));
    assert_eq!(cm["metadata"]["namespace"], "sys");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(cm["metadata"]["labels"]["app.kubernetes.io/instance"], "fo");
    let data = cm["data"].as_object().unwrap();
    assert_eq!(data.keys().collect::<Vec<_>>(), ["flowlog-operator.json"]);
    let shipped = data["flowlog-operator.json"].as_str().unwrap();
    assert!(shipped == file, "the ConfigMap's dashboard differs from dashboards/flowlog-operator.json");
    assert_eq!(serde_json::from_str::<Value>(shipped).unwrap(), dashboard());

    let d = render(
        "fo",
        "sys",
        &[WI],
        &[
            "dashboard.enabled=true",
            "dashboard.namespace=monitoring",
            "dashboard.label=example.com/dashboard",
            "dashboard.labelValue=1", // an integer from --set: rendered as the string "1"
            "dashboard.annotations.grafana_folder=Azure",
        ],
    );
    let cm = find(&d, "ConfigMap", None);
    assert_eq!(cm["metadata"]["namespace"], "monitoring");
    assert_eq!(cm["metadata"]["labels"]["example.com/dashboard"], "1");
    assert!(cm["metadata"]["labels"].get("grafana_dashboard").is_none());
    assert_eq!(cm["metadata"]["annotations"], json!({"grafana_folder": "Azure"}));
    let d = render("fo", "sys", &[WI], &["dashboard.enabled=true", "dashboard.labelValue=flowlog"]);
    assert_eq!(find(&d, "ConfigMap", None)["metadata"]["labels"]["grafana_dashboard"], "flowlog");

    // Off by default: the chart renders no ConfigMap at all.
    assert!(all_of(&render("fo", "sys", &[WI], &[]), "ConfigMap").is_empty());
    assert!(all_of(&render("fo", "sys", &[WI], &["dashboard.enabled=false"]), "ConfigMap").is_empty());
    let values: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(format!("{CHART}/values.yaml")).unwrap()).unwrap();
    assert_eq!(values["dashboard"]["enabled"], false);

    for (sets, expected) in [
        (&["dashboard.enabled=yes"][..], "/dashboard/enabled"),
        (&["dashboard.namespace=Monitoring"][..], "/dashboard/namespace"),
        (&["dashboard.label=grafana dashboard"][..], "/dashboard/label"),
        (&["dashboard.labelValue=-1-"][..], "/dashboard/labelValue"),
        (&["dashboard.folder=Azure"][..], "folder"),
    ] {
        let e = template("t", "ns", &[WI], sets).expect_err("rejected");
        assert!(e.contains(expected), "{sets:?}: the error should name {expected:?}:\n{e}");
    }
}

/// The ServiceMonitor keeps the operator's `namespace` label (the set's, on `flowlog_set_targets`), which the
/// dashboard's set filters read; Prometheus would otherwise rename it `exported_namespace`.
#[test]
fn the_service_monitor_keeps_the_set_namespace_label() {
    let d = render("fo", "sys", &[WI], &["metrics.serviceMonitor.enabled=true"]);
    let endpoint = &find(&d, "ServiceMonitor", None)["spec"]["endpoints"][0];
    assert_eq!(endpoint["honorLabels"], true);
    let d = render(
        "fo",
        "sys",
        &[WI],
        &["metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.honorLabels=false"],
    );
    assert_eq!(find(&d, "ServiceMonitor", None)["spec"]["endpoints"][0]["honorLabels"], false);
}
