//! The core of `kedro-sfn init`: a Kedro env whose catalog puts every dataset a deployment
//! needs on S3. Kedro overlays an env's catalog over `conf/base` one entry at a time (an
//! entry in `conf/<env>` replaces the base entry of the same name whole), so each entry here
//! is the project's own entry, type and options kept, with only its location moved.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::graph::{CycleError, NodeGraph};
use super::model::{dataset_of, PipelineDoc};
use super::storage::{classify, Storage};

/// The catalog keys that hold a dataset's location, in the order Kedro's datasets use them
/// (the exporter looks for the same ones).
const PATH_KEYS: &[&str] = &["filepath", "path", "filename"];

/// Where in-memory datasets that cross tasks are pickled, under the prefix.
const PICKLE_DIR: &str = "data/kedro-sfn";

/// The type that can store any Python object between two tasks.
const PICKLE_TYPE: &str = "pickle.PickleDataset";

/// `s3://BUCKET/PREFIX`, checked: the one place every moved dataset goes under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Prefix {
    bucket: String,
    /// Without leading or trailing slashes; may be empty.
    prefix: String,
}

/// Why an `--bucket` value was refused.
#[derive(Debug, thiserror::Error)]
#[error("--bucket {given:?} {problem}; give it as s3://BUCKET or s3://BUCKET/PREFIX, e.g. s3://my-team-data/spaceflights")]
pub struct BucketError {
    given: String,
    problem: String,
}

impl S3Prefix {
    pub fn parse(text: &str) -> Result<Self, BucketError> {
        let error = |problem: &str| BucketError {
            given: text.to_string(),
            problem: problem.to_string(),
        };
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| error("is not an s3:// URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // S3's rules for new buckets: 3-63 characters, lowercase letters, digits, dots and
        // hyphens, starting and ending with a letter or digit.
        let valid_chars = bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
        let valid_ends = bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !(3..=63).contains(&bucket.len()) || !valid_chars || !valid_ends {
            return Err(error(
                "has no valid bucket name (3-63 lowercase letters, digits, dots and hyphens)",
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|part| part == "." || part == "..") {
            return Err(error("has . or .. in its prefix"));
        }
        Ok(S3Prefix {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The URL of a project-relative path under the prefix.
    pub fn url(&self, relative: &str) -> String {
        let relative = relative.trim_start_matches('/');
        if self.prefix.is_empty() {
            format!("s3://{}/{relative}", self.bucket)
        } else {
            format!("s3://{}/{}/{relative}", self.bucket, self.prefix)
        }
    }
}

impl fmt::Display for S3Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url("").trim_end_matches('/'))
    }
}

/// A file the pipeline reads but never writes: it must be uploaded to its new place once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub dataset: String,
    /// As the catalog writes it (relative to the project, or absolute).
    pub local: String,
    /// Where the file goes: for a versioned dataset, inside a version folder
    /// (`<filepath>/<version>/<file name>`), where Kedro looks for it.
    pub remote: String,
    /// The version folder a versioned dataset's file is uploaded under.
    pub version: Option<String>,
}

/// The version an uploaded input of a versioned dataset is put under: Kedro's format
/// (`kedro.io.core.VERSION_FORMAT`, milliseconds), older than any run's, so a run's
/// "latest" is the upload until a node of the pipeline writes a newer one.
pub const UPLOAD_VERSION: &str = "2000-01-01T00.00.00.000Z";

/// Why a dataset was left as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    pub dataset: String,
    pub reason: String,
}

/// The env's catalog, and what the user still has to do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteEnv {
    /// Catalog entries by dataset name, sorted.
    pub entries: BTreeMap<String, Value>,
    /// How many of the entries are local files moved to S3 (the rest are pickles).
    pub moved_files: usize,
    pub uploads: Vec<Upload>,
    pub left: Vec<Left>,
}

/// The entries that put every dataset of `doc` that is not on shared storage on S3:
/// - a local file keeps its entry (type, options, `versioned`) and moves under `target`
///   at the same relative path;
/// - an in-memory dataset (a MemoryDataset, or a name no entry matches) that a node writes
///   becomes a pickle under `target/data/kedro-sfn/`: between tasks it must be, and an
///   output nobody reads would otherwise be lost when its function ends (every node's data
///   is kept); transcoded names of one dataset share the one file;
/// - everything already shared (S3, a database) and parameters are left alone; so is an
///   in-memory input nothing writes, which no location can fix.
///
/// `catalog` holds each dataset's entry as the project's config writes it (the exporter's
/// `--with-catalog`), `None` for a name no entry matches.
pub fn remote_env(
    doc: &PipelineDoc,
    catalog: &BTreeMap<String, Option<Value>>,
    target: &S3Prefix,
) -> Result<RemoteEnv, CycleError> {
    let graph = NodeGraph::build(doc)?;
    let mut env = RemoteEnv::default();
    for name in doc.datasets.keys() {
        let written = graph.writer_of(name).is_some();
        let left = |reason: &str| Left {
            dataset: name.clone(),
            reason: reason.to_string(),
        };
        match classify(doc, name) {
            Storage::LocalPath { path, .. } => {
                let Some(Some(Value::Object(entry))) = catalog.get(name) else {
                    env.left.push(left(
                        "it has no catalog entry (it is made in code, e.g. by a hook): put it on S3 there",
                    ));
                    continue;
                };
                let relative = path
                    .strip_prefix("file://")
                    .unwrap_or(&path)
                    .trim_start_matches("./")
                    .to_string();
                let remote = target.url(&relative);
                env.entries
                    .insert(name.clone(), Value::Object(moved(entry, &remote)));
                env.moved_files += 1;
                if !written {
                    let versioned = entry.get("versioned").and_then(Value::as_bool) == Some(true);
                    let (remote, version) = if versioned {
                        let file = relative.rsplit('/').next().unwrap_or(&relative);
                        let version = UPLOAD_VERSION.to_string();
                        (format!("{remote}/{version}/{file}"), Some(version))
                    } else {
                        (remote, None)
                    };
                    env.uploads.push(Upload {
                        dataset: name.clone(),
                        local: path,
                        remote,
                        version,
                    });
                }
            }
            Storage::Memory { .. } | Storage::NotInCatalog => {
                if !written {
                    env.left.push(left(
                        "it is in memory and no node writes it: give it a catalog entry with its data",
                    ));
                } else {
                    let file = format!("{PICKLE_DIR}/{}.pickle", dataset_of(name));
                    let mut entry = Map::new();
                    entry.insert("type".into(), PICKLE_TYPE.into());
                    entry.insert("filepath".into(), target.url(&file).into());
                    env.entries.insert(name.clone(), Value::Object(entry));
                }
            }
            Storage::Parameters | Storage::Remote { .. } | Storage::External { .. } => {}
        }
    }
    Ok(env)
}

/// `entry` with its location replaced by `remote`, every other key kept in its place.
fn moved(entry: &Map<String, Value>, remote: &str) -> Map<String, Value> {
    let key = PATH_KEYS
        .iter()
        .find(|key| entry.contains_key(**key))
        .copied()
        .unwrap_or("filepath");
    let mut moved = entry.clone();
    moved.insert(key.to_string(), remote.into());
    moved
}

/// The env's `catalog.yml`: a header saying where it came from, then one entry per
/// dataset, sorted, each with `type` first as Kedro's docs write them.
pub fn catalog_yaml(env: &RemoteEnv, env_name: &str, target: &S3Prefix) -> String {
    let mut text = format!(
        "# The catalog of the Kedro env `{env_name}`, written by `kedro-sfn init --bucket {target}`.\n\
         # Kedro reads conf/base, then this file: each entry here replaces the base entry of the\n\
         # same name. Every dataset that passes between Lambda tasks, and every input the\n\
         # pipeline reads, is on S3; types and options are the project's own.\n"
    );
    for (name, entry) in &env.entries {
        let mut ordered = Map::new();
        if let Value::Object(fields) = entry {
            if let Some(kind) = fields.get("type") {
                ordered.insert("type".into(), kind.clone());
            }
            for (key, value) in fields {
                ordered.insert(key.clone(), value.clone());
            }
        }
        let mut one = Map::new();
        one.insert(name.clone(), Value::Object(ordered));
        let yaml = serde_yaml::to_string(&Value::Object(one))
            .expect("a JSON value always serializes as YAML");
        text.push('\n');
        text.push_str(&yaml);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_urls_are_checked_and_joined_with_one_slash() {
        let target = S3Prefix::parse("s3://my-data/teams/space/").expect("valid");
        assert_eq!(
            target.url("data/01_raw/companies.csv"),
            "s3://my-data/teams/space/data/01_raw/companies.csv"
        );
        assert_eq!(target.to_string(), "s3://my-data/teams/space");
        let bare = S3Prefix::parse("s3://my-data").expect("valid");
        assert_eq!(bare.url("/abs/x.csv"), "s3://my-data/abs/x.csv");
        for bad in [
            "my-data",
            "s3://My_Data",
            "s3://ab",
            "s3://-x-/p",
            "s3://b-b/../x",
        ] {
            let error = S3Prefix::parse(bad).expect_err(bad).to_string();
            assert!(error.contains("s3://BUCKET/PREFIX"), "{error}");
        }
    }
}
