//! The offline validator (`flowlog_operator::validate`) against a real kube-apiserver (started by `tests/run.sh`):
//! every manifest of `tests/manifests/validate/` is sent as a server-side dry-run create with strict field
//! validation, and the apiserver's verdict must be the validator's: both accept, with the same defaulted `spec`,
//! or both reject, with the same fields and messages (the apiserver's `status.details.causes`; for unknown fields,
//! which it answers with a 400 and no causes, the fields its message lists; for metadata that does not decode,
//! the decoder's message).

mod common;

use std::path::Path;

use common::cluster;
use flowlog_operator::validate::Verdict;
use flowlog_operator::validate::stream::validate_paths;
use kube::Client;
use serde_json::Value;

const CORPUS: &str = "tests/manifests/validate";

/// What the apiserver answered: accepted (the object it would store) or the (field, message) of each error.
#[derive(Debug, PartialEq)]
enum Answer {
    Accepted(Value),
    Rejected(Vec<(String, String)>),
}

async fn dry_run_create(client: &Client, namespace: &str, manifest: &Value) -> Answer {
    let plural = match manifest["kind"].as_str() {
        Some("FlowLogPolicySet") => "flowlogpolicysets",
        _ => "flowlogpolicies",
    };
    let mut manifest = manifest.clone();
    manifest["metadata"]["namespace"] = namespace.into();
    let url = format!("/apis/flowlog.dev/v1alpha1/namespaces/{namespace}/{plural}?dryRun=All&fieldValidation=Strict");
    let request = http::Request::post(url)
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&manifest).unwrap())
        .unwrap();
    match client.request::<Value>(request).await {
        Ok(object) => Answer::Accepted(object),
        Err(kube::Error::Api(status)) => {
            let mut errors: Vec<(String, String)> = match status.details.as_ref().map(|d| &d.causes) {
                Some(causes) if !causes.is_empty() => {
                    assert_eq!(status.code, 422, "{status:?}");
                    causes.iter().map(|c| (c.field.clone(), c.message.clone())).collect()
                }
                _ if status.message.contains("into Go struct field ObjectMeta.") => {
                    // `... cannot be handled as a FlowLogPolicy: json: cannot unmarshal number into Go struct field
                    // ObjectMeta.labels of type string`
                    assert_eq!(status.code, 400, "{status:?}");
                    let decoding = regex::Regex::new(r"json: .* Go struct field ObjectMeta\.(\w+) .*").unwrap();
                    let found = decoding.captures(&status.message).expect("a decoding error");
                    vec![(format!("metadata.{}", &found[1]), found[0].to_string())]
                }
                _ => {
                    // `... strict decoding error: unknown field "spec.bogus", unknown field "spec.target.extra"`
                    assert_eq!(status.code, 400, "{status:?}");
                    let unknown = regex::Regex::new(r#"unknown field "([^"]*)""#).unwrap();
                    let fields: Vec<(String, String)> =
                        unknown.captures_iter(&status.message).map(|c| (c[1].to_string(), c[0].to_string())).collect();
                    assert!(!fields.is_empty(), "a 400 that is not about unknown fields: {status:?}");
                    fields
                }
            };
            errors.sort();
            Answer::Rejected(errors)
        }
        Err(e) => panic!("the apiserver did not answer: {e}"),
    }
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn the_validator_gives_the_apiservers_verdict_on_every_manifest_of_the_corpus() {
    let (client, namespace) = cluster("validate").await;
    let documents = validate_paths(&[CORPUS.into()]).expect("the corpus reads");
    let (mut good, mut bad) = (0, 0);
    let mut differences = Vec::new();
    for document in &documents {
        let file = Path::new(&document.source).file_name().unwrap().to_string_lossy().to_string();
        let manifest: Value = serde_saphyr::from_str(&std::fs::read_to_string(&document.source).unwrap()).unwrap();
        let verdict = document.verdict.as_ref().unwrap_or_else(|e| panic!("{file}: not a manifest: {e}"));
        let server = dry_run_create(&client, &namespace, &manifest).await;
        let ours = match verdict {
            Verdict::Accepted(object) => Answer::Accepted(object["spec"].clone()),
            Verdict::Rejected(errors) => {
                let mut errors: Vec<(String, String)> = errors.iter().map(|e| (e.field.clone(), e.message())).collect();
                errors.sort();
                Answer::Rejected(errors)
            }
        };
        let server = match server {
            Answer::Accepted(object) => Answer::Accepted(object["spec"].clone()),
            rejected => rejected,
        };
        // The file's name says what the corpus means it to be: a verdict both got wrong is a failure too.
        let expected_good = file.starts_with("good-");
        assert!(expected_good || file.starts_with("bad-"), "{file}: name it good-* or bad-*");
        match &server {
            Answer::Accepted(_) if expected_good => good += 1,
            Answer::Rejected(_) if !expected_good => bad += 1,
            other => panic!("{file}: the apiserver's verdict is not what the file's name says: {other:?}"),
        }
        if ours != server {
            differences.push(format!("{file}:\n  apiserver: {server:?}\n  validator: {ours:?}"));
        }
    }
    eprintln!("{} manifests: {good} accepted and {bad} rejected by both", documents.len());
    assert!(differences.is_empty(), "{} differences:\n{}", differences.len(), differences.join("\n"));
    assert!(good >= 5 && bad >= 25, "the corpus is too small: {good} good, {bad} bad");
}
