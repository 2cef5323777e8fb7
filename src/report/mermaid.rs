//! The state machine as a Mermaid flowchart (GitHub renders it): Parallel states are
//! subgraphs holding their branches, sequences are arrows.

use std::fmt::Write;

use crate::plan::sp_tree::SpTree;

use super::escape::mermaid_label;

/// Past this many tasks the picture stops being readable (and GitHub stops rendering it).
pub const MAX_TASKS_DRAWN: usize = 150;

/// The text of each task's box: its state name, and how many nodes it runs when several.
pub fn task_labels(plan: &crate::plan::Plan) -> Vec<String> {
    plan.tasks
        .iter()
        .map(|t| match t.nodes.len() {
            1 => t.state.clone(),
            n => format!("{} ({n} nodes)", t.state),
        })
        .collect()
}

/// Draws the tree; `labels[task]` is the text of each task's box.
pub fn flowchart(tree: &SpTree, labels: &[String]) -> String {
    let mut drawing = Drawing {
        labels,
        body: String::new(),
        edges: Vec::new(),
        next_subgraph: 0,
    };
    let (entry, exit) = drawing.draw(tree, 1);
    let mut out = String::from("flowchart TD\n");
    out.push_str("  start([Start])\n");
    out.push_str(&drawing.body);
    out.push_str("  finish([End])\n");
    let _ = writeln!(out, "  start --> {entry}");
    for (from, to) in &drawing.edges {
        let _ = writeln!(out, "  {from} --> {to}");
    }
    let _ = writeln!(out, "  {exit} --> finish");
    out
}

struct Drawing<'a> {
    labels: &'a [String],
    body: String,
    edges: Vec<(String, String)>,
    next_subgraph: usize,
}

impl Drawing<'_> {
    /// Declares the subtree's boxes at `depth` and returns its entry and exit ids.
    fn draw(&mut self, tree: &SpTree, depth: usize) -> (String, String) {
        let indent = "  ".repeat(depth);
        match tree {
            SpTree::Task(task) => {
                let id = format!("t{task}");
                let label = self.labels.get(*task).map(String::as_str).unwrap_or("?");
                let _ = writeln!(self.body, "{indent}{id}[\"{}\"]", mermaid_label(label));
                (id.clone(), id)
            }
            SpTree::Sequence(children) => {
                let mut ends: Vec<(String, String)> = Vec::new();
                for child in children {
                    ends.push(self.draw(child, depth));
                }
                for pair in ends.windows(2) {
                    self.edges.push((pair[0].1.clone(), pair[1].0.clone()));
                }
                let entry = ends.first().map(|e| e.0.clone()).unwrap_or_default();
                let exit = ends.last().map(|e| e.1.clone()).unwrap_or_default();
                (entry, exit)
            }
            SpTree::Parallel(children) => {
                let id = format!("p{}", self.next_subgraph);
                self.next_subgraph += 1;
                let _ = writeln!(self.body, "{indent}subgraph {id}[\"parallel\"]");
                let _ = writeln!(self.body, "{indent}  direction TB");
                for child in children {
                    self.draw(child, depth + 1);
                }
                let _ = writeln!(self.body, "{indent}end");
                (id.clone(), id)
            }
        }
    }
}
