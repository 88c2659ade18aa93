//! The simulator's README against the code: its inventory example loads, as does every inventory of `inventories/`
//! it describes, and it names every operation (counter and fault-rule name), every admin route, every behaviour
//! setting and quirk, and every invented error code, so that the section cannot silently fall behind the simulator.

use std::path::Path;

use flowlog_simulator::inventory::Behaviour;
use flowlog_simulator::{FaultRule, Inventory, Simulator};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The simulator's README.
fn section() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap()
}

fn simulator_source(file: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join("src").join(file)).unwrap()
}

#[test]
fn the_inventory_example_loads() {
    let section = section();
    let inventory = &section[section.find("## Inventory").expect("an Inventory heading")..];
    let start = inventory.find("```yaml\n").expect("a YAML example") + "```yaml\n".len();
    let yaml = &inventory[start..start + inventory[start..].find("```").unwrap()];
    let inv = Inventory::from_yaml(yaml).unwrap_or_else(|e| panic!("the README's inventory example: {e}"));
    let sub = &inv.subscriptions[0];
    assert!(sub.virtual_networks[0].subnets[0].network_security_group.is_some(), "shows an NSG association");
    assert!(sub.network_interfaces[0].network_security_group.is_some(), "shows an NSG association");
    assert!(!sub.virtual_machine_scale_sets.is_empty(), "shows a scale set");

    // Every behaviour setting and quirk is shown.
    let behaviour = serde_json::to_value(Behaviour::default()).unwrap();
    let mut keys = vec!["faults".to_string()]; // empty by default, so not serialized
    for object in [&behaviour, &behaviour["quirks"], &behaviour["lro"], &behaviour["throttling"]] {
        keys.extend(object.as_object().unwrap().keys().cloned());
    }
    for key in keys {
        assert!(yaml.contains(&format!("{key}:")), "the inventory example does not show {key}");
    }
}

/// Every inventory of `inventories/` loads, and the README names it.
#[test]
fn every_inventory_of_the_folder_loads_and_is_described() {
    let section = section();
    let mut found = 0;
    for entry in std::fs::read_dir(Path::new(ROOT).join("inventories")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        Inventory::from_yaml(&text).unwrap_or_else(|e| panic!("inventories/{name}: {e}"));
        assert!(section.contains(&format!("`inventories/{name}`")), "the README does not describe inventories/{name}");
        found += 1;
    }
    assert!(found >= 1);
}

#[test]
fn names_every_operation_and_admin_route() {
    let section = section();
    // The fault-rule check lists every operation name.
    let why = Simulator::new(Inventory::builtin())
        .set_faults(vec![serde_json::from_str::<FaultRule>(r#"{"operation": "?", "effect": "drop"}"#).unwrap()])
        .unwrap_err();
    let list = why.split_once("use one of ").unwrap().1.trim_end_matches(" or \"*\"");
    let operations: Vec<&str> = list.split(", ").collect();
    assert!(operations.len() > 20, "{why}");
    for operation in operations {
        assert!(section.contains(&format!("`{operation}`")), "the README does not name operation {operation}");
    }
    let http = simulator_source("http.rs");
    let mut routes = 0;
    for line in http.lines().filter_map(|l| l.trim().strip_prefix(".route(\"/_sim/")) {
        let route = format!("/_sim/{}", &line[..line.find('"').unwrap()]);
        assert!(section.contains(&format!("{route}`")), "the README does not document {route}");
        routes += 1;
    }
    assert!(routes >= 7, "found only {routes} admin routes");
}

#[test]
fn lists_every_invented_error_code() {
    let section = section();
    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    rust_files(&Path::new(ROOT).join("src"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        // A `// invented: …` comment precedes the error it marks: the code is the string after the next
        // `StatusCode::…,`.
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            offset += line.len();
            if line.trim_start().starts_with("// invented") {
                let rest = &text[offset..];
                let after = &rest[rest.find("StatusCode::").expect("an error after `// invented`")..];
                let quoted = &after[after.find('"').unwrap() + 1..];
                found.push(quoted[..quoted.find('"').unwrap()].to_string());
            }
        }
    }
    found.sort();
    found.dedup();
    assert!(found.len() >= 10, "{found:?}");
    for code in found {
        assert!(section.contains(&format!("| `{code}` |")), "the README's invented codes lack {code}");
    }
}

/// The paths the README's Layout section lists, in its order.
fn layout() -> Vec<String> {
    let readme = section();
    let layout = &readme[readme.find("## Layout").expect("a Layout section")..];
    let start = layout.find("```\n").unwrap() + 4;
    let block = &layout[start..start + layout[start..].find("```").unwrap()];
    block.lines().filter_map(|l| l.split_whitespace().next()).map(String::from).collect()
}

/// The Layout section lists every source file and folder of the crate, and nothing that is not there.
#[test]
fn layout_matches_the_tree() {
    let listed = layout();
    let listed: Vec<&str> = listed.iter().map(String::as_str).collect();
    for entry in &listed {
        assert!(Path::new(ROOT).join(entry).exists(), "the README's layout lists {entry}, which does not exist");
    }
    for entry in std::fs::read_dir(Path::new(ROOT).join("src")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let expected = if path.is_dir() { format!("src/{name}/") } else { format!("src/{name}") };
        assert!(listed.contains(&expected.as_str()), "the README's layout does not list {expected}");
    }
}

/// The Layout section's order is the dependency order: a module refers (`crate::m`, `super::m`) only to modules
/// listed above it, so the crate has no import circle. `lib.rs`, `main.rs` and the unit tests' fixtures sit on top.
#[test]
fn modules_depend_only_on_those_listed_above_them() {
    let modules: Vec<String> = layout()
        .iter()
        .filter_map(|e| e.strip_prefix("src/"))
        .map(|e| e.trim_end_matches('/').trim_end_matches(".rs").to_string())
        .filter(|m| !["lib", "main", "test_fixtures"].contains(&m.as_str()))
        .collect();
    let source_of = |module: &str| {
        let file = Path::new(ROOT).join("src").join(format!("{module}.rs"));
        let mut files = vec![];
        if file.exists() {
            files.push(file);
        }
        let mut dirs = vec![Path::new(ROOT).join("src").join(module)];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|x| x == "rs") {
                    files.push(path);
                }
            }
        }
        files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect::<Vec<_>>().join("\n")
    };
    let mut checked = 0;
    for (i, module) in modules.iter().enumerate() {
        let source = source_of(module);
        for (j, other) in modules.iter().enumerate().skip(i + 1) {
            for prefix in ["crate::", "super::"] {
                let path = format!("{prefix}{other}");
                let refers = source
                    .match_indices(&path)
                    .any(|(at, _)| !source[at + path.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_'));
                assert!(!refers, "{module} (listed {i}) refers to {other} (listed {j}, below it): `{path}`");
            }
        }
        checked += 1;
    }
    assert!(checked > 20, "only {checked} modules found in the layout");
}
