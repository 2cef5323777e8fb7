//! The data-dependency graph between Kedro nodes, and a deterministic topological order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use super::model::{dataset_of, is_parameter, PipelineDoc};

/// One dataset flowing from the node that writes it to a node that reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataEdge {
    pub from: usize,
    pub to: usize,
    /// The name the reader uses.
    pub dataset: String,
    /// The name the writer uses: another name than `dataset` when the dataset is transcoded
    /// (`x@pandas` written, `x@spark` read), the same otherwise.
    pub written_as: String,
}

impl DataEdge {
    /// The catalog names the data passes through: one, or two for a transcoded dataset. The
    /// data crosses between tasks only if every one of them is shared storage.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let transcoded = (self.written_as != self.dataset).then_some(self.written_as.as_str());
        std::iter::once(self.dataset.as_str()).chain(transcoded)
    }
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
    /// Which node writes each dataset, keyed by the dataset (transcoding stripped: see
    /// [`dataset_of`]); ask with [`NodeGraph::writer_of`].
    writer: BTreeMap<String, usize>,
}

/// A pipeline whose datasets form a cycle cannot be ordered (Kedro refuses it too).
#[derive(Debug, thiserror::Error)]
#[error("the pipeline has a cycle through the nodes {}", .nodes.join(", "))]
pub struct CycleError {
    pub nodes: Vec<String>,
}

impl NodeGraph {
    /// The node that writes `name`'s dataset, whichever transcoded name either side uses.
    pub fn writer_of(&self, name: &str) -> Option<usize> {
        self.writer.get(dataset_of(name)).copied()
    }

    pub fn build(doc: &PipelineDoc) -> Result<Self, CycleError> {
        let mut writer = BTreeMap::new();
        let mut written_as = BTreeMap::new();
        for (index, node) in doc.nodes.iter().enumerate() {
            for output in &node.outputs {
                writer.insert(dataset_of(output).to_string(), index);
                written_as.insert(dataset_of(output), output.as_str());
            }
        }
        let mut edges = Vec::new();
        for (index, node) in doc.nodes.iter().enumerate() {
            for input in node.inputs.iter().filter(|name| !is_parameter(name)) {
                let dataset = dataset_of(input);
                if let (Some(&from), Some(&output)) = (writer.get(dataset), written_as.get(dataset))
                {
                    edges.push(DataEdge {
                        from,
                        to: index,
                        dataset: input.clone(),
                        written_as: output.to_string(),
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::pipeline::model::Node;

    /// A node reading `inputs` and writing `outputs`, nothing else, for unit tests.
    pub(crate) fn node(name: &str, inputs: &[&str], outputs: &[&str]) -> Node {
        Node {
            name: name.into(),
            func: None,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            tags: vec![],
            namespace: None,
        }
    }

    #[test]
    fn a_transcoded_dataset_links_its_writer_to_its_reader() {
        // The reader first: only the edge can put the writer before it.
        let doc = PipelineDoc::for_tests(vec![
            node("read", &["x@spark", "params:a"], &["y"]),
            node("write", &["raw"], &["x@pandas"]),
        ]);
        let graph = NodeGraph::build(&doc).expect("no cycle");
        assert_eq!(graph.order, vec![1, 0]);
        assert_eq!(graph.edges.len(), 1);
        let edge = &graph.edges[0];
        assert_eq!((edge.from, edge.to), (1, 0));
        assert_eq!(edge.names().collect::<Vec<_>>(), ["x@spark", "x@pandas"]);
        assert_eq!(graph.writer_of("x"), Some(1));
        assert_eq!(graph.writer_of("x@anything"), Some(1));
        assert_eq!(graph.writer_of("raw"), None);
    }
}
