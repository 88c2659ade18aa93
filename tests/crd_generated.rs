//! `crds/` holds generated artefacts: they must be exactly what the code produces.

#[test]
fn crd_file_matches_the_code() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/flowlogpolicies.flowlog.dev.yaml"
    );
    let on_disk =
        std::fs::read_to_string(path).expect("crds/flowlogpolicies.flowlog.dev.yaml exists");
    let generated = flowlog_operator::cli::crd_yaml();
    assert!(
        on_disk == generated,
        "crds/flowlogpolicies.flowlog.dev.yaml is stale: regenerate it with `cargo run -- crd > crds/flowlogpolicies.flowlog.dev.yaml`"
    );
}
