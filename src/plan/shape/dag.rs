//! A DAG of tasks whose indices are a topological order, and the schedules the planner
//! compares: the critical path, the layered machine of Kedro's guide, and a tree's makespan.

use std::collections::BTreeSet;

/// Every edge goes from a lower index to a higher one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dag {
    pub successors: Vec<Vec<usize>>,
    pub predecessors: Vec<Vec<usize>>,
}

impl Dag {
    /// Builds the DAG; edges must go from lower to higher indices (checked in debug builds).
    pub fn from_edges(count: usize, edges: impl IntoIterator<Item = (usize, usize)>) -> Self {
        let mut successors = vec![Vec::new(); count];
        let mut predecessors = vec![Vec::new(); count];
        let unique: BTreeSet<(usize, usize)> = edges.into_iter().collect();
        for (from, to) in unique {
            debug_assert!(from < to, "edge {from} -> {to} is not in topological order");
            successors[from].push(to);
            predecessors[to].push(from);
        }
        Dag {
            successors,
            predecessors,
        }
    }

    pub fn len(&self) -> usize {
        self.successors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.successors.is_empty()
    }

    pub fn edges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.successors
            .iter()
            .enumerate()
            .flat_map(|(from, tos)| tos.iter().map(move |&to| (from, to)))
    }

    /// The longest path, counting each task's duration: no schedule can be faster.
    pub fn critical_path(&self, durations: &[f64]) -> f64 {
        self.earliest_finish(durations)
            .into_iter()
            .fold(0.0, f64::max)
    }

    /// When each task could finish at the earliest, if everything ran as soon as its inputs
    /// existed.
    pub fn earliest_finish(&self, durations: &[f64]) -> Vec<f64> {
        let mut finish = vec![0.0; self.len()];
        for task in 0..self.len() {
            let start = self.predecessors[task]
                .iter()
                .map(|&p| finish[p])
                .fold(0.0, f64::max);
            finish[task] = start + durations[task];
        }
        finish
    }

    /// Kedro's `grouped_nodes`: a task's layer is one more than its latest predecessor's.
    pub fn layers(&self) -> Vec<Vec<usize>> {
        let mut layer_of = vec![0usize; self.len()];
        let mut layers: Vec<Vec<usize>> = Vec::new();
        for task in 0..self.len() {
            let layer = self.predecessors[task]
                .iter()
                .map(|&p| layer_of[p] + 1)
                .max()
                .unwrap_or(0);
            layer_of[task] = layer;
            if layers.len() <= layer {
                layers.resize_with(layer + 1, Vec::new);
            }
            layers[layer].push(task);
        }
        layers
    }

    /// The makespan of the seed guide's machine: a chain of Parallel states, one per layer,
    /// each as slow as its slowest task.
    pub fn layered_makespan(&self, durations: &[f64]) -> f64 {
        self.layers()
            .iter()
            .map(|layer| layer.iter().map(|&t| durations[t]).fold(0.0, f64::max))
            .sum()
    }
}
