//! Where a dataset lives, seen from a Lambda function: each invocation has its own memory and
//! its own ephemeral disk, so only storage outside the function is shared between tasks.

use super::model::{is_parameter, PipelineDoc};

/// How a dataset name resolves, in the terms that matter on Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// `params:x` or `parameters`: read from the project's config, not a dataset.
    Parameters,
    /// Not in the catalog: Kedro makes it a MemoryDataset.
    NotInCatalog,
    /// An in-process dataset (MemoryDataset and friends) of the given type.
    Memory { kind: String },
    /// A file on the function's own disk.
    LocalPath { kind: String, path: String },
    /// A URL on shared object storage (s3://, gs://, abfs://, ...).
    Remote { kind: String, url: String },
    /// No file path at all and not in memory: a database table, an API. Shared by nature.
    External { kind: String },
}

/// Dataset types that hold data in the Python process only.
const IN_PROCESS_TYPES: &[&str] = &["MemoryDataset", "SharedMemoryDataset", "CachedDataset"];

/// URL schemes that fsspec maps to the local machine rather than to shared storage.
const LOCAL_SCHEMES: &[&str] = &["file", "local", "memory"];

impl Storage {
    /// True when a second Lambda function can read what the first one wrote.
    pub fn is_shared(&self) -> bool {
        matches!(self, Storage::Remote { .. } | Storage::External { .. })
    }

    /// A phrase for messages: "a MemoryDataset", "the local path data/x.csv", ...
    pub fn describe(&self) -> String {
        match self {
            Storage::Parameters => "parameters".to_string(),
            Storage::NotInCatalog => "not in the catalog (so a MemoryDataset)".to_string(),
            Storage::Memory { kind } => format!("a {kind}"),
            Storage::LocalPath { kind, path } => format!("a {kind} on the local path {path}"),
            Storage::Remote { kind, url } => format!("a {kind} at {url}"),
            Storage::External { kind } => format!("a {kind}"),
        }
    }
}

/// Classifies a dataset name of the document.
pub fn classify(doc: &PipelineDoc, name: &str) -> Storage {
    if is_parameter(name) {
        return Storage::Parameters;
    }
    let Some(dataset) = doc.datasets.get(name) else {
        return Storage::NotInCatalog;
    };
    let kind = dataset.kind.clone();
    let short_type = kind.rsplit('.').next().unwrap_or(&kind);
    if dataset.default || IN_PROCESS_TYPES.contains(&short_type) {
        return Storage::Memory { kind };
    }
    match dataset.filepath.as_deref() {
        None => Storage::External { kind },
        Some(path) => match url_scheme(path) {
            Some(scheme) if !LOCAL_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) => {
                Storage::Remote {
                    kind,
                    url: path.to_string(),
                }
            }
            _ => Storage::LocalPath {
                kind,
                path: path.to_string(),
            },
        },
    }
}

/// The scheme of `scheme://rest`, if the path is a URL. Windows drive letters (`C:\x`) are
/// not schemes.
fn url_scheme(path: &str) -> Option<&str> {
    let (scheme, _) = path.split_once("://")?;
    let valid = scheme.len() > 1
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::model::Dataset;

    fn doc_with(name: &str, kind: &str, filepath: Option<&str>) -> PipelineDoc {
        let mut doc = PipelineDoc::for_tests(vec![]);
        doc.datasets.insert(
            name.into(),
            Dataset {
                kind: kind.into(),
                filepath: filepath.map(str::to_string),
                versioned: false,
                default: false,
            },
        );
        doc
    }

    #[test]
    fn object_store_urls_are_shared_and_local_paths_are_not() {
        for url in [
            "s3://b/x.csv",
            "gs://b/x",
            "abfs://c/x",
            "s3a://b/x",
            "gcs://b/x",
        ] {
            assert!(classify(&doc_with("d", "pandas.CSVDataset", Some(url)), "d").is_shared());
        }
        for path in [
            "data/x.csv",
            "/tmp/x.csv",
            "file:///tmp/x.csv",
            "C:\\data\\x.csv",
        ] {
            let storage = classify(&doc_with("d", "pandas.CSVDataset", Some(path)), "d");
            assert!(
                matches!(storage, Storage::LocalPath { .. }),
                "{path}: {storage:?}"
            );
        }
    }

    #[test]
    fn memory_datasets_missing_entries_and_parameters_are_told_apart() {
        let doc = doc_with("m", "kedro.io.MemoryDataset", None);
        assert!(matches!(classify(&doc, "m"), Storage::Memory { .. }));
        assert_eq!(classify(&doc, "other"), Storage::NotInCatalog);
        assert_eq!(classify(&doc, "params:alpha"), Storage::Parameters);
        assert_eq!(classify(&doc, "parameters"), Storage::Parameters);
        let sql = doc_with("t", "pandas.SQLTableDataset", None);
        assert!(classify(&sql, "t").is_shared());
    }
}
