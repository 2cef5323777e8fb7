//! The data between tasks: what one task writes and another reads must be persisted where
//! both can reach it; free inputs must exist; outputs nobody keeps are said.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::config::GroupBy;
use crate::pipeline::graph::DataEdge;
use crate::pipeline::model::{dataset_of, is_parameter, PipelineDoc};
use crate::pipeline::storage::{classify, Storage};

pub(super) fn env_catalog(doc: &PipelineDoc) -> String {
    match &doc.env {
        Some(env) => format!("conf/{env}/catalog.yml"),
        None => "the catalog of the env you deploy (conf/<env>/catalog.yml)".into(),
    }
}

pub(super) fn check_shared_datasets(context: &CheckContext, findings: &mut Findings) {
    let doc = context.doc;
    // Per catalog name that is not shared: the edges that carry it across tasks.
    let mut crossing: BTreeMap<&str, Vec<&DataEdge>> = BTreeMap::new();
    for edge in &context.graph.edges {
        if context.task_of[edge.from] == context.task_of[edge.to] {
            continue;
        }
        for name in edge.names() {
            if !classify(doc, name).is_shared() {
                crossing.entry(name).or_default().push(edge);
            }
        }
    }
    let group_by = context.config.group_by();
    for (dataset, edges) in crossing {
        let writer = edges[0].from;
        let readers: BTreeSet<usize> = edges.iter().map(|e| e.to).collect();
        let reader_names: Vec<String> = readers
            .iter()
            .map(|&n| format!("`{}`", doc.nodes[n].name))
            .collect();
        let transcoded: BTreeSet<&str> = edges.iter().flat_map(|e| e.names()).collect();
        let views = if transcoded.len() > 1 {
            format!(
                " (one dataset, transcoded as {})",
                transcoded
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        } else {
            String::new()
        };
        let regroup = if group_by == GroupBy::Memory {
            String::new()
        } else {
            format!(", or run them in one task with --group-by memory (now: {group_by})")
        };
        findings.push(Problem {
            severity: Severity::Error,
            rule: Rule::DatasetNotShared,
            subject: dataset.to_string(),
            message: format!(
                "dataset `{dataset}`{views} is {} but is written by `{}` (task `{}`) and read by {} in other tasks; each Lambda function has its own memory and disk, so they would never see it",
                classify(doc, dataset).describe(),
                doc.nodes[writer].name,
                context.task_labels[context.task_of[writer]],
                reader_names.join(", "),
            ),
            hint: format!(
                "put `{dataset}` on shared storage (s3://...) in {}{regroup}{}",
                env_catalog(doc),
                type_hint(doc, dataset)
            ),
        });
    }
}

pub(super) fn check_free_inputs(context: &CheckContext, findings: &mut Findings) {
    let doc = context.doc;
    let mut free: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in &doc.nodes {
        for input in &node.inputs {
            if !is_parameter(input) && context.graph.writer_of(input).is_none() {
                free.entry(input.as_str())
                    .or_default()
                    .push(node.name.as_str());
            }
        }
    }
    for (dataset, nodes) in free {
        let storage = classify(doc, dataset);
        if storage.is_shared() {
            continue;
        }
        let why = match storage {
            Storage::NotInCatalog | Storage::Memory { .. } => {
                "nothing in the pipeline writes it, so it would be empty"
            }
            _ => "a Lambda function cannot read a file from this machine",
        };
        findings.push(Problem {
            severity: Severity::Error,
            rule: Rule::FreeInputNotRemote,
            subject: dataset.to_string(),
            message: format!(
                "input `{dataset}` of {} is {}; {why}",
                nodes
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                storage.describe()
            ),
            hint: format!(
                "put `{dataset}` on remote storage (s3://...) in {}{}",
                env_catalog(doc),
                type_hint(doc, dataset)
            ),
        });
    }
}

/// What to write in the catalog: users otherwise guess a dataset type, or miss that
/// `kedro-sfn init` writes the whole overlay.
pub(super) fn type_hint(doc: &PipelineDoc, dataset: &str) -> String {
    let what = match classify(doc, dataset) {
        Storage::NotInCatalog | Storage::Memory { .. } => {
            " with a type that can store it: `pickle.PickleDataset` takes any Python object (a pandas Series, a scikit-learn model), `pandas.ParquetDataset` a DataFrame"
        }
        Storage::LocalPath { .. } => ": keep its type and options, and change its `filepath` to an s3:// URL",
        _ => "",
    };
    format!(
        "{what}; `kedro-sfn init --bucket s3://BUCKET/PREFIX` writes such an env for every dataset"
    )
}

pub(super) fn check_discarded_outputs(context: &CheckContext, findings: &mut Findings) {
    let doc = context.doc;
    let read: BTreeSet<&str> = doc
        .nodes
        .iter()
        .flat_map(|n| n.inputs.iter().map(|input| dataset_of(input)))
        .collect();
    for node in &doc.nodes {
        for output in &node.outputs {
            let storage = classify(doc, output);
            if !read.contains(dataset_of(output)) && !storage.is_shared() {
                findings.push(Problem {
                    severity: Severity::Warning,
                    rule: Rule::OutputDiscarded,
                    subject: output.clone(),
                    message: format!(
                        "output `{output}` of `{}` is {} and no node reads it: it is lost when the function ends",
                        node.name,
                        storage.describe()
                    ),
                    hint: format!("persist it in {} if you need it", env_catalog(doc)),
                });
            }
        }
    }
}
