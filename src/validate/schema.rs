//! The structural part of the apiserver's validation: strict decoding's unknown fields, pruning of `null`s and
//! defaulting, `metadata.name`, and the OpenAPI constraints (type, required, enum, bounds, lengths, counts,
//! pattern, list-map keys), with the messages kube-openapi and the apiextensions apiserver write.

use regex::Regex;
use serde_json::{Map, Value};

use super::{ErrorType, FieldError, child};

/// `ObjectMeta`'s fields: anything else under `metadata` is an unknown field.
const OBJECT_META: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// The fields strict decoding rejects: those neither the schema nor `ObjectMeta` declares (paths such as
/// `spec.bogus`, `spec.destinations[0].extra`).
pub fn unknown_fields(manifest: &Value, schema: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(object) = manifest.as_object() {
        for (name, value) in object {
            match name.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    for key in value.as_object().into_iter().flat_map(Map::keys) {
                        if !OBJECT_META.contains(&key.as_str()) {
                            errors.push(unknown(&child("metadata", key)));
                        }
                    }
                }
                _ => match schema["properties"].get(name) {
                    Some(property) => unknown_in(value, property, name, &mut errors),
                    None => errors.push(unknown(name)),
                },
            }
        }
    }
    errors
}

/// Turns integral floats (`30.0`) into integers, as the apiserver's JSON decoding does.
pub fn integral_numbers(value: &mut Value) {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15) {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(object) => object.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// The error of decoding `metadata` into `ObjectMeta`, which the apiserver answers (400) before anything else: the
/// string fields and the string maps `labels` and `annotations` (the other fields are left to the apiserver).
pub fn metadata_decoding(manifest: &Value) -> Option<FieldError> {
    let metadata = manifest.get("metadata")?.as_object()?;
    let go_type = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let error = |field: &str, found: &Value, expected: &str| {
        let detail = format!(
            "json: cannot unmarshal {} into Go struct field ObjectMeta.{field} of type {expected}",
            go_type(found)
        );
        Some(FieldError::new(&child("metadata", field), ErrorType::Decoding, None, detail))
    };
    for field in ["name", "generateName", "namespace"] {
        match metadata.get(field) {
            Some(Value::String(_) | Value::Null) | None => {}
            Some(other) => return error(field, other, "string"),
        }
    }
    for field in ["labels", "annotations"] {
        match metadata.get(field) {
            Some(Value::Object(map)) => {
                if let Some(v) = map.values().find(|v| !v.is_string() && !v.is_null()) {
                    return error(field, v, "string");
                }
            }
            Some(Value::Null) | None => {}
            Some(other) => return error(field, other, "map[string]string"),
        }
    }
    None
}

fn unknown(path: &str) -> FieldError {
    FieldError::new(path, ErrorType::UnknownField, None, "")
}

fn unknown_in(value: &Value, schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if schema["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true) {
        return;
    }
    match value {
        Value::Object(object) => {
            let properties = schema["properties"].as_object();
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (name, value) in object {
                if let Some(property) = properties.and_then(|p| p.get(name)) {
                    unknown_in(value, property, &child(path, name), errors);
                } else if let Some(additional) = additional {
                    unknown_in(value, additional, &child(path, name), errors);
                } else if properties.is_some() || schema["type"] == "object" {
                    errors.push(unknown(&child(path, name)));
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                unknown_in(item, &schema["items"], &format!("{path}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

fn nullable(schema: &Value) -> bool {
    schema["nullable"] == Value::Bool(true)
}

/// Prunes the `null`s of non-nullable fields and applies the schema's `default`s to absent (or pruned) fields,
/// recursively (a default's own fields are defaulted too), as the apiserver does before validating.
pub fn prune_and_default(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(object) => {
            if let Some(properties) = schema["properties"].as_object() {
                for (name, property) in properties {
                    let default = property.get("default");
                    match object.get(name) {
                        Some(Value::Null) if !nullable(property) => match default {
                            Some(default) => _ = object.insert(name.clone(), default.clone()),
                            None => _ = object.remove(name),
                        },
                        None => {
                            if let Some(default) = default {
                                object.insert(name.clone(), default.clone());
                            }
                        }
                        _ => {}
                    }
                    if let Some(v) = object.get_mut(name) {
                        prune_and_default(v, property);
                    }
                }
            }
            if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for v in object.values_mut() {
                    prune_and_default(v, additional);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                prune_and_default(item, &schema["items"]);
            }
        }
        _ => {}
    }
}

const DNS1123_SUBDOMAIN: &str = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";

/// `metadata.name`: required (there is no `generateName` in a manifest applied by name) and a DNS subdomain, as for
/// every custom resource.
pub fn check_metadata(object: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name = &object["metadata"]["name"];
    let generate_name = object["metadata"]["generateName"].as_str().unwrap_or_default();
    match name.as_str() {
        None | Some("") if generate_name.is_empty() => {
            errors.push(FieldError::new(
                "metadata.name",
                ErrorType::Required,
                None,
                "name or generateName is required",
            ));
        }
        None | Some("") => {}
        Some(name) => {
            let invalid =
                |detail: String| FieldError::new("metadata.name", ErrorType::Invalid, Some(name.into()), detail);
            if name.len() > 253 {
                errors.push(invalid("must be no more than 253 characters".into()));
            }
            let re = regex(&format!("^{DNS1123_SUBDOMAIN}$")).expect("a valid regex");
            if !re.is_match(name) {
                errors.push(invalid(format!(
                    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', \
                     and must start and end with an alphanumeric character (e.g. 'example.com', regex used for \
                     validation is '{DNS1123_SUBDOMAIN}')"
                )));
            }
        }
    }
    errors
}

/// The OpenAPI constraints of `schema` on `object` (the whole object, after [`prune_and_default`]).
pub fn check(object: &Value, schema: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    // The root's own fields are the apiserver's (apiVersion, kind, metadata): only the schema's properties count.
    if let Some(properties) = schema["properties"].as_object() {
        for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if object.get(required).is_none() {
                errors.push(FieldError::new(required, ErrorType::Required, None, ""));
            }
        }
        for (name, property) in properties {
            if let Some(value) = object.get(name) {
                check_node(value, property, name, &mut errors);
            }
        }
    }
    errors
}

/// The JSON type kube-openapi names for a value (after [`integral_numbers`]).
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A schema bound as Go's `%v` of a float64 prints it (`365.0` → `365`).
fn bound(number: &Value) -> String {
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 => format!("{}", f as i64),
        Some(f) => f.to_string(),
        None => number.to_string(),
    }
}

fn check_node(value: &Value, schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let expected = schema["type"].as_str().unwrap_or_default();
    let actual = json_type(value);
    if value.is_null() && nullable(schema) {
        return;
    }
    let type_ok = expected.is_empty() || expected == actual || (expected == "number" && actual == "integer");
    if !type_ok {
        let detail = format!("{path} in body must be of type {expected}: \"{actual}\"");
        errors.push(FieldError::new(path, ErrorType::TypeInvalid, Some(actual.into()), detail));
    }
    // The enum is checked whatever the type; the other constraints only on a value of the right type.
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        let allowed: Vec<String> = allowed
            .iter()
            .map(|a| match a {
                Value::String(s) => super::go_quote(s),
                other => super::go_quote(&other.to_string()),
            })
            .collect();
        let detail = format!("supported values: {}", allowed.join(", "));
        errors.push(FieldError::new(path, ErrorType::NotSupported, Some(value.clone()), detail));
    }
    if !type_ok {
        return;
    }
    let invalid = |detail: String| FieldError::new(path, ErrorType::Invalid, Some(value.clone()), detail);
    match value {
        Value::String(s) => {
            let length = s.chars().count() as u64;
            if let Some(max) = schema["maxLength"].as_u64()
                && length > max
            {
                let unit = if max == 1 { "byte" } else { "bytes" };
                errors.push(FieldError::new(
                    path,
                    ErrorType::TooLong,
                    None,
                    format!("may not be more than {max} {unit}"),
                ));
            }
            if let Some(min) = schema["minLength"].as_u64()
                && length < min
            {
                errors.push(invalid(format!("{path} in body should be at least {min} chars long")));
            }
            if let Some(pattern) = schema["pattern"].as_str()
                && !regex(pattern).is_some_and(|re| re.is_match(s))
            {
                errors.push(invalid(format!("{path} in body should match '{pattern}'")));
            }
        }
        Value::Number(n) => {
            let n = n.as_f64().unwrap_or_default();
            if let Some(max) = schema.get("maximum").filter(|m| m.as_f64().is_some_and(|m| n > m)) {
                errors.push(invalid(format!("{path} in body should be less than or equal to {}", bound(max))));
            }
            if let Some(min) = schema.get("minimum").filter(|m| m.as_f64().is_some_and(|m| n < m)) {
                errors.push(invalid(format!("{path} in body should be greater than or equal to {}", bound(min))));
            }
        }
        Value::Object(object) => check_object(object, schema, path, errors),
        Value::Array(items) => check_array(items, schema, path, errors),
        _ => {}
    }
}

fn too_many(path: &str, count: usize, max: u64) -> FieldError {
    FieldError::new(path, ErrorType::TooMany, Some(count.into()), format!("must have at most {max} items"))
}

fn check_object(object: &Map<String, Value>, schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if object.get(required).is_none() {
            errors.push(FieldError::new(&child(path, required), ErrorType::Required, None, ""));
        }
    }
    if let Some(max) = schema["maxProperties"].as_u64()
        && object.len() as u64 > max
    {
        errors.push(too_many(path, object.len(), max));
    }
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    for (name, value) in object {
        if let Some(property) = schema["properties"].get(name) {
            check_node(value, property, &child(path, name), errors);
        } else if let Some(additional) = additional {
            // kube-openapi names a map's entries as fields (`spec.selector.excludeTags.flowlogs`).
            check_node(value, additional, &child(path, name), errors);
        }
    }
}

fn check_array(items: &[Value], schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if let Some(max) = schema["maxItems"].as_u64()
        && items.len() as u64 > max
    {
        errors.push(too_many(path, items.len(), max));
    }
    for (i, item) in items.iter().enumerate() {
        check_node(item, &schema["items"], &format!("{path}[{i}]"), errors);
    }
    if schema["x-kubernetes-list-type"] == "map" {
        let keys: Vec<&str> =
            schema["x-kubernetes-list-map-keys"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let mut seen: Vec<Map<String, Value>> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let key: Map<String, Value> =
                keys.iter().filter_map(|k| item.get(*k).map(|v| (k.to_string(), v.clone()))).collect();
            if seen.contains(&key) {
                let value = Value::Object(key);
                errors.push(FieldError::new(&format!("{path}[{i}]"), ErrorType::Duplicate, Some(value), ""));
            } else {
                seen.push(key);
            }
        }
    }
}

/// A schema pattern compiled once per process (`None` when it is not a valid regex).
fn regex(pattern: &str) -> Option<std::sync::Arc<Regex>> {
    static COMPILED: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, Option<std::sync::Arc<Regex>>>>,
    > = std::sync::OnceLock::new();
    let compiled = COMPILED.get_or_init(Default::default);
    let mut compiled = compiled.lock().expect("not poisoned");
    compiled.entry(pattern.to_string()).or_insert_with(|| Regex::new(pattern).ok().map(std::sync::Arc::new)).clone()
}
