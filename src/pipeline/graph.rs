//! The data-dependency graph between Kedro nodes, and a deterministic topological order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use super::model::is_parameter;
use super::model::PipelineDoc;

/// One dataset flowing from the node that writes it to a node that reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataEdge {
    pub from: usize,
    pub to: usize,
    pub dataset: String,
}

/// Nodes (by index into `PipelineDoc::nodes`) joined by the datasets between them.
#[derive(Debug, Clone)]
pub struct NodeGraph {
    /// A topological order; ties keep the document's order, so the same document always gives
    /// the same order.
    pub order: Vec<usize>,
    /// `position[node]` = the node's place in `order`.
    pub position: Vec<usize>,
    pub edges: Vec<DataEdge>,
    /// Which node writes each dataset.
    pub writer: BTreeMap<String, usize>,
}

/// A pipeline whose datasets form a cycle cannot be ordered (Kedro refuses it too).
#[derive(Debug, thiserror::Error)]
#[error("the pipeline has a cycle through the nodes {}", .nodes.join(", "))]
pub struct CycleError {
    pub nodes: Vec<String>,
}

impl NodeGraph {
    pub fn build(doc: &PipelineDoc) -> Result<Self, CycleError> {
        let mut writer = BTreeMap::new();
        for (index, node) in doc.nodes.iter().enumerate() {
            for output in &node.outputs {
                writer.insert(output.clone(), index);
            }
        }
        let mut edges = Vec::new();
        for (index, node) in doc.nodes.iter().enumerate() {
            for input in node.inputs.iter().filter(|name| !is_parameter(name)) {
                if let Some(&from) = writer.get(input) {
                    edges.push(DataEdge {
                        from,
                        to: index,
                        dataset: input.clone(),
                    });
                }
            }
        }
        let order = topological_order(doc.nodes.len(), &edges).map_err(|stuck| CycleError {
            nodes: stuck.iter().map(|&i| doc.nodes[i].name.clone()).collect(),
        })?;
        let mut position = vec![0; order.len()];
        for (place, &node) in order.iter().enumerate() {
            position[node] = place;
        }
        Ok(NodeGraph {
            order,
            position,
            edges,
            writer,
        })
    }
}

/// Kahn's algorithm, smallest index first among the ready ones. On a cycle, returns the
/// nodes that could not be ordered.
pub fn topological_order(count: usize, edges: &[DataEdge]) -> Result<Vec<usize>, Vec<usize>> {
    let mut successors = vec![Vec::new(); count];
    let mut waiting_on = vec![0usize; count];
    for edge in edges {
        successors[edge.from].push(edge.to);
        waiting_on[edge.to] += 1;
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..count)
        .filter(|&n| waiting_on[n] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(count);
    while let Some(Reverse(node)) = ready.pop() {
        order.push(node);
        for &next in &successors[node] {
            waiting_on[next] -= 1;
            if waiting_on[next] == 0 {
                ready.push(Reverse(next));
            }
        }
    }
    if order.len() == count {
        Ok(order)
    } else {
        Err((0..count).filter(|&n| waiting_on[n] > 0).collect())
    }
}
