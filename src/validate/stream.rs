//! Validation of multi-document YAML streams, as `plan -f PATH...` reads them: every document gets its verdict
//! with where it came from (file, position, kind, namespace/name). A document that is not YAML, or not an object,
//! gets an error of its own; the others are still validated. [`validate_stream`] is pure; [`read_inputs`] reads
//! files, folders (their `.yaml`, `.yml` and `.json` files, recursively, in name order) and `-` (stdin).

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Verdict, validate};

/// The verdict on one document of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Where the stream came from (a path, or `-` for stdin).
    pub source: String,
    /// The document's position in its stream, from 0 (empty documents are not counted).
    pub index: usize,
    /// The document's `kind`, if it has one.
    pub kind: Option<String>,
    /// `metadata.namespace`, if set.
    pub namespace: Option<String>,
    /// `metadata.name`, if set.
    pub name: Option<String>,
    /// The apiserver's verdict, or why the document could not be read as a manifest.
    pub verdict: Result<Verdict, String>,
}

impl Document {
    /// Whether the apiserver would accept it.
    pub fn accepted(&self) -> bool {
        matches!(self.verdict, Ok(Verdict::Accepted(_)))
    }
}

impl fmt::Display for Document {
    /// `file.yaml#0 FlowLogPolicy team-a/web: accepted`, or the errors one per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{} {}", self.source, self.index, self.kind.as_deref().unwrap_or("(no kind)"))?;
        match (&self.namespace, &self.name) {
            (Some(ns), Some(name)) => write!(f, " {ns}/{name}")?,
            (None, Some(name)) => write!(f, " {name}")?,
            _ => {}
        }
        match &self.verdict {
            Ok(Verdict::Accepted(_)) => write!(f, ": accepted"),
            Ok(Verdict::Rejected(errors)) => {
                write!(f, ": rejected")?;
                errors.iter().try_for_each(|e| write!(f, "\n  {e}"))
            }
            Err(e) => write!(f, ": not a manifest: {e}"),
        }
    }
}

/// Splits a YAML stream into its documents' texts (at `---` lines; `...` ends a document), dropping the empty ones.
fn split_documents(text: &str) -> Vec<String> {
    let mut documents = vec![String::new()];
    for line in text.lines() {
        let trimmed = line.trim_end();
        if trimmed == "---" || line.starts_with("--- ") || trimmed == "..." {
            documents.push(String::new());
        } else {
            let current = documents.last_mut().expect("never empty");
            current.push_str(line);
            current.push('\n');
        }
    }
    documents
        .into_iter()
        .filter(|d| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')))
        .collect()
}

/// Validates every document of one YAML (or JSON) stream read from `source`.
pub fn validate_stream(source: &str, text: &str) -> Vec<Document> {
    split_documents(text)
        .into_iter()
        .enumerate()
        .map(|(index, document)| {
            let parsed: Result<Value, String> = serde_saphyr::from_str(&document).map_err(|e| e.to_string());
            let field = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
            let (kind, namespace, name) = match &parsed {
                Ok(v) => (field(v, "/kind"), field(v, "/metadata/namespace"), field(v, "/metadata/name")),
                Err(_) => (None, None, None),
            };
            let verdict = parsed.and_then(|v| match v {
                Value::Object(_) => Ok(validate(&v)),
                _ => Err("a manifest must be a YAML mapping".to_string()),
            });
            Document { source: source.to_string(), index, kind, namespace, name, verdict }
        })
        .collect()
}

/// Reads `paths` as `plan -f` takes them: files, folders (recursively, `.yaml`/`.yml`/`.json`, sorted) and `-`
/// (stdin, read once), as (source, text) pairs.
pub fn read_inputs(paths: &[PathBuf]) -> std::io::Result<Vec<(String, String)>> {
    let mut inputs = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            inputs.push(("-".to_string(), text));
        } else {
            read_path(path, &mut inputs)?;
        }
    }
    Ok(inputs)
}

fn read_path(path: &Path, inputs: &mut Vec<(String, String)>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(path)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
        entries.sort();
        for entry in entries {
            let manifest = entry.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json");
            if entry.is_dir() || manifest {
                read_path(&entry, inputs)?;
            }
        }
        Ok(())
    } else {
        let text = std::fs::read_to_string(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        inputs.push((path.display().to_string(), text));
        Ok(())
    }
}

/// Reads and validates `paths` (see [`read_inputs`] and [`validate_stream`]).
pub fn validate_paths(paths: &[PathBuf]) -> std::io::Result<Vec<Document>> {
    Ok(read_inputs(paths)?.iter().flat_map(|(source, text)| validate_stream(source, text)).collect())
}
