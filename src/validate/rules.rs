//! The `x-kubernetes-validations` CEL rules, evaluated with the `cel` crate as the apiserver evaluates them on a
//! create: `self` is the node the rule sits on (absent and `null` nodes are not checked, and a `null` field is not
//! `has()`), the root's rules see `apiVersion`, `kind`, `metadata.name`/`generateName` and `spec`, and transition
//! rules (those using `oldSelf`) do not apply.
//!
//! The rules use `matches` (the crate's Rust regex agrees with RE2 on the syntax they use, `(?i)` included),
//! `duration()` with comparison, `has()`, `size()`, `all()`, `startsWith` and `in`, all of which the crate's
//! standard library provides; a unit test runs each rule of the generated CRDs.

use std::collections::HashMap;
use std::sync::Arc;

use cel::objects::{Key, Map};
use cel::{Context, Program};
use serde_json::Value;

use super::{ErrorType, FieldError, child};

/// The field errors of every failing rule of `schema` on `object` (after defaulting).
pub fn check(object: &Value, schema: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut root = serde_json::Map::new();
    for field in ["apiVersion", "kind", "spec"] {
        if let Some(v) = object.get(field) {
            root.insert(field.into(), v.clone());
        }
    }
    let mut metadata = serde_json::Map::new();
    for field in ["name", "generateName"] {
        if let Some(v) = object["metadata"].get(field) {
            metadata.insert(field.into(), v.clone());
        }
    }
    root.insert("metadata".into(), Value::Object(metadata));
    check_node(&Value::Object(root), schema, "", &mut errors);
    errors
}

fn check_node(value: &Value, schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if value.is_null() {
        return;
    }
    for rule in schema["x-kubernetes-validations"].as_array().into_iter().flatten() {
        if let Some(error) = evaluate(rule, value, path) {
            errors.push(error);
        }
    }
    match value {
        Value::Object(object) => {
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (name, v) in object {
                if let Some(property) = schema["properties"].get(name) {
                    check_node(v, property, &child(path, name), errors);
                } else if let Some(additional) = additional {
                    check_node(v, additional, &format!("{path}[{name}]"), errors);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_node(item, &schema["items"], &format!("{path}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

/// The error of one rule on `value`, if it fails.
fn evaluate(rule: &Value, value: &Value, path: &str) -> Option<FieldError> {
    let text = rule["rule"].as_str()?;
    if text.contains("oldSelf") {
        return None;
    }
    let field = match (path, rule["fieldPath"].as_str()) {
        (path, Some(extra)) => child(path, extra.trim_start_matches('.')),
        ("", None) => "<nil>".to_string(),
        (path, None) => path.to_string(),
    };
    // The apiserver shows a scalar's value; an object's or a list's it leaves out.
    let shown = (!value.is_object() && !value.is_array()).then(|| value.clone());
    let error = |detail: String| Some(FieldError::new(&field, ErrorType::Invalid, shown.clone(), detail));
    match run(text, value) {
        Ok(cel::Value::Bool(true)) => None,
        Ok(cel::Value::Bool(false)) => {
            let message = match rule["messageExpression"].as_str().map(|e| run(e, value)) {
                Some(Ok(cel::Value::String(s))) if !s.trim().is_empty() => s.to_string(),
                _ => match rule["message"].as_str() {
                    Some(message) => message.to_string(),
                    None => format!("failed rule: {text}"),
                },
            };
            error(message)
        }
        Ok(other) => error(format!("failed rule: {text}: the rule gave {other:?}, not a bool")),
        Err(e) => error(format!("failed rule evaluation: {e}")),
    }
}

/// Evaluates one CEL expression with `self` bound to `value`. Each expression is compiled once per process (the
/// CRDs hold a few dozen; a stream of thousands of manifests evaluates them again and again).
pub fn run(expression: &str, value: &Value) -> Result<cel::Value, String> {
    static COMPILED: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Program>>>> =
        std::sync::OnceLock::new();
    let compiled = COMPILED.get_or_init(Default::default);
    let known = compiled.lock().expect("not poisoned").get(expression).cloned();
    let program = match known {
        Some(program) => program,
        None => {
            // `matches` compiles its regex at every call (most of a rule's cost: the CRDs' patterns are Unicode
            // and case-insensitive); the same function with compiled regexes kept takes its place.
            let rewritten = expression.replace(".matches(", ".cachedMatches(");
            let program = std::sync::Arc::new(Program::compile(&rewritten).map_err(|e| e.to_string())?);
            compiled.lock().expect("not poisoned").insert(expression.to_string(), program.clone());
            program
        }
    };
    // The standard library is built once per thread (building it is most of an evaluation's cost); each evaluation
    // binds `self` in a scope of its own.
    thread_local! {
        static ROOT: Context<'static, 'static> = {
            let mut root = Context::default();
            root.add_function("cachedMatches", cached_matches).expect("not a standard function");
            root
        };
    }
    ROOT.with(|root| {
        let mut context = root.new_inner_scope();
        context.add_variable_from_value("self", to_cel(value));
        program.execute(&context).map_err(|e| e.to_string())
    })
}

/// CEL's `string.matches(regex)`, with each regex compiled once per process.
fn cached_matches(
    cel::extractors::This(this): cel::extractors::This<std::sync::Arc<String>>,
    pattern: std::sync::Arc<String>,
) -> Result<bool, cel::ExecutionError> {
    type Compiled = std::collections::HashMap<String, Option<std::sync::Arc<regex::Regex>>>;
    static COMPILED: std::sync::OnceLock<std::sync::Mutex<Compiled>> = std::sync::OnceLock::new();
    let compiled = COMPILED.get_or_init(Default::default);
    let regex = compiled
        .lock()
        .expect("not poisoned")
        .entry(pattern.to_string())
        .or_insert_with(|| regex::Regex::new(&pattern).ok().map(std::sync::Arc::new))
        .clone();
    match regex {
        Some(regex) => Ok(regex.is_match(&this)),
        None => Err(cel::ExecutionError::FunctionError {
            function: "matches".into(),
            message: format!("'{pattern}' not a valid regex"),
        }),
    }
}

/// A JSON value as CEL sees it (a map's `null` fields are absent, as `has()` treats them).
pub fn to_cel(value: &Value) -> cel::Value {
    match value {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => cel::Value::Int(i),
            None => cel::Value::Float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => cel::Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(object) => {
            let map: HashMap<Key, cel::Value> =
                object.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (Key::from(k.clone()), to_cel(v))).collect();
            cel::Value::Map(Map { map: Arc::new(map) })
        }
    }
}
