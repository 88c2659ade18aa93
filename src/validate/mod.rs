//! Validating `FlowLogPolicy` and `FlowLogPolicySet` manifests as the apiserver does, without a cluster (pure: no
//! I/O, no client).
//!
//! [`validate`] gives the verdict a server-side create with `fieldValidation=Strict` would give: the manifest with
//! the schema's defaults applied, or the field errors with the apiserver's paths and messages. It works from the
//! `openAPIV3Schema` of the CRD the code generates ([`FlowLogPolicy::crd`]), never from a copy, in the apiserver's
//! order:
//! 1. decoding: `metadata` that is not an `ObjectMeta`, then strict decoding's unknown fields (either is all the
//!    apiserver reports);
//! 2. `status` is dropped (the status subresource ignores it on create), non-nullable `null`s are pruned and
//!    `default`s applied ([`schema::prune_and_default`]);
//! 3. `metadata.name` (a DNS subdomain) and the structural schema ([`schema::check`]);
//! 4. the `x-kubernetes-validations` CEL rules ([`rules`]), unless step 3 found a blocking error (wrong type,
//!    required, unsupported, too long, too many), which the apiserver reports with one error at `<nil>` instead.
//!
//! [`stream`] applies it to multi-document YAML files, folders and stdin.
//!
//! `tests/e2e_validate.rs` proves the parity: every manifest of `tests/manifests/validate/` gets the same verdict
//! from [`validate`] as from a real apiserver.

pub mod rules;
pub mod schema;
pub mod stream;

use std::fmt;
use std::sync::OnceLock;

use kube::CustomResourceExt;
use serde_json::Value;

use crate::api::{FlowLogPolicy, FlowLogPolicySet};

/// The `apiVersion` of both kinds.
pub const API_VERSION: &str = "flowlog.dev/v1alpha1";

/// The kind of a field error, as the apiserver names it (`field.ErrorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// `Required value`.
    Required,
    /// `Invalid value` (pattern, minimum, maximum, minLength, CEL rules, metadata.name).
    Invalid,
    /// `Invalid value` for a value of the wrong JSON type (`FieldValueTypeInvalid`; blocks the CEL rules).
    TypeInvalid,
    /// `Unsupported value` (enum).
    NotSupported,
    /// `Too long` (maxLength).
    TooLong,
    /// `Too many` (maxItems, maxProperties).
    TooMany,
    /// `Duplicate value` (two items with one key in a `x-kubernetes-list-type: map`).
    Duplicate,
    /// `metadata` that does not decode into `ObjectMeta` (a label that is not a string...; the apiserver answers
    /// 400 with the JSON decoder's message, which is the whole message here).
    Decoding,
    /// A field the schema does not declare (strict field validation; the apiserver answers 400, not 422).
    UnknownField,
}

impl ErrorType {
    /// The words the apiserver writes before the value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Required => "Required value",
            ErrorType::Invalid | ErrorType::TypeInvalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::UnknownField => "unknown field",
            ErrorType::Decoding => "cannot decode",
        }
    }

    /// Whether the apiserver skips the CEL rules when schema validation found this (`hasBlockingErr`).
    fn blocks_rules(self) -> bool {
        matches!(
            self,
            ErrorType::Required
                | ErrorType::TypeInvalid
                | ErrorType::NotSupported
                | ErrorType::TooLong
                | ErrorType::TooMany
        )
    }
}

/// One field error, as the apiserver reports it in `status.details.causes`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// The field's path, such as `spec.flowLog.storageId` or `spec.destinations[2]`; `<nil>` for the object itself.
    pub field: String,
    /// The kind of error.
    pub kind: ErrorType,
    /// The offending value, when the apiserver shows it.
    pub value: Option<Value>,
    /// What is wrong, after the value.
    pub detail: String,
}

impl FieldError {
    pub(crate) fn new(field: &str, kind: ErrorType, value: Option<Value>, detail: impl Into<String>) -> Self {
        FieldError { field: field.to_string(), kind, value, detail: detail.into() }
    }

    /// The message of the error, exactly as the apiserver's cause has it (`field.Error.ErrorBody`), e.g.
    /// `Invalid value: "X": spec.flowLog.recordTypes in body should match '^[BCED](,[BCED]){0,3}$'`.
    pub fn message(&self) -> String {
        match self.kind {
            ErrorType::UnknownField => return format!("unknown field {}", go_quote(&self.field)),
            ErrorType::Decoding => return self.detail.clone(),
            _ => {}
        }
        let mut s = self.kind.as_str().to_string();
        let shows_value = !matches!(self.kind, ErrorType::Required | ErrorType::TooLong);
        if let (true, Some(value)) = (shows_value, &self.value) {
            s.push_str(": ");
            s.push_str(&go_value(value));
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message())
    }
}

/// A value as Go's `%v`/`%q` prints it in a field error.
fn go_value(value: &Value) -> String {
    match value {
        Value::String(s) => go_quote(s),
        Value::Null => "null".into(),
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        other => other.to_string(),
    }
}

/// Go's `%q` of a string (JSON's escaping, which agrees with it for the characters manifests hold).
fn go_quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// The apiserver's verdict on one manifest.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Accepted: the object as the apiserver would store it (defaults applied, `status` dropped).
    Accepted(Value),
    /// Rejected, with every field error (sorted by field, then message; the apiserver's note that the CEL rules
    /// were not checked comes last).
    Rejected(Vec<FieldError>),
}

impl Verdict {
    /// The errors; empty when accepted.
    pub fn errors(&self) -> &[FieldError] {
        match self {
            Verdict::Accepted(_) => &[],
            Verdict::Rejected(errors) => errors,
        }
    }
}

/// The kinds this module validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `FlowLogPolicy`.
    Policy,
    /// `FlowLogPolicySet`.
    Set,
}

impl Kind {
    /// The kind of a manifest's `kind` field.
    pub fn from_name(kind: &str) -> Option<Kind> {
        match kind {
            "FlowLogPolicy" => Some(Kind::Policy),
            "FlowLogPolicySet" => Some(Kind::Set),
            _ => None,
        }
    }

    /// The `openAPIV3Schema` of the kind's generated CRD.
    pub fn schema(self) -> &'static Value {
        static POLICY: OnceLock<Value> = OnceLock::new();
        static SET: OnceLock<Value> = OnceLock::new();
        let crd = || match self {
            Kind::Policy => FlowLogPolicy::crd(),
            Kind::Set => FlowLogPolicySet::crd(),
        };
        let cell = match self {
            Kind::Policy => &POLICY,
            Kind::Set => &SET,
        };
        cell.get_or_init(|| {
            let crd = serde_json::to_value(crd()).expect("a CRD serialises");
            crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
        })
    }
}

/// Validates one manifest as a server-side create with strict field validation would.
pub fn validate(manifest: &Value) -> Verdict {
    let reject = |errors: Vec<FieldError>| Verdict::Rejected(sorted(errors));
    let Some(object) = manifest.as_object() else {
        return reject(vec![FieldError::new(
            "<nil>",
            ErrorType::Invalid,
            None,
            "a manifest must be a YAML/JSON object",
        )]);
    };
    let kind_name = object.get("kind").and_then(Value::as_str).unwrap_or_default();
    let Some(kind) = Kind::from_name(kind_name) else {
        let detail = "kind must be FlowLogPolicy or FlowLogPolicySet";
        return reject(vec![FieldError::new("kind", ErrorType::Invalid, Some(kind_name.into()), detail)]);
    };
    let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    if api_version != API_VERSION {
        let detail = format!("apiVersion must be {API_VERSION}");
        return reject(vec![FieldError::new("apiVersion", ErrorType::Invalid, Some(api_version.into()), detail)]);
    }
    let mut object = manifest.clone();
    schema::integral_numbers(&mut object);
    if let Some(error) = schema::metadata_decoding(&object) {
        return reject(vec![error]);
    }
    let schema = kind.schema();
    let unknown = schema::unknown_fields(&object, schema);
    if !unknown.is_empty() {
        return reject(unknown);
    }
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    schema::prune_and_default(&mut object, schema);
    let mut errors = schema::check_metadata(&object);
    errors.extend(schema::check(&object, schema));
    if errors.iter().any(|e| e.kind.blocks_rules()) {
        errors = sorted(errors);
        errors.push(FieldError::new(
            "<nil>",
            ErrorType::Invalid,
            Some(Value::Null),
            "some validation rules were not checked because the object was invalid; correct the existing errors to \
             complete validation",
        ));
        return Verdict::Rejected(errors);
    }
    errors.extend(rules::check(&object, schema));
    if errors.is_empty() { Verdict::Accepted(object) } else { reject(errors) }
}

fn sorted(mut errors: Vec<FieldError>) -> Vec<FieldError> {
    errors.sort_by_key(|e| (e.field.clone(), e.message()));
    errors
}

/// Appends a property name to a field path (`spec` + `flowLog` → `spec.flowLog`).
pub(crate) fn child(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

#[cfg(test)]
mod tests;
