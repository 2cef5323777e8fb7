//! Packs Kedro nodes into Lambda tasks (`--group-by`), keeping the task graph acyclic.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use crate::config::GroupBy;
use crate::pipeline::PipelineDoc;

use crate::pipeline::graph::NodeGraph;
use crate::plan::shape::dag::Dag;

/// Nodes that run in one Lambda invocation, in dependency order.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Indices into `PipelineDoc::nodes`, in topological order.
    pub nodes: Vec<usize>,
    /// The readable base of the task's names: the node name, the namespace, or the first node
    /// and a count.
    pub label: String,
    /// What makes the task this task (its node names); hashed where a name must be shortened.
    pub identity: String,
}

/// Tasks in a topological order (every dependency goes from a lower to a higher index).
#[derive(Debug, Clone)]
pub struct TaskGraph {
    pub tasks: Vec<Task>,
    pub dag: Dag,
    /// `task_of[node]` = the task that runs the node.
    pub task_of: Vec<usize>,
}

/// Groups the nodes. `is_shared(dataset)` tells whether a dataset survives between two
/// Lambda invocations.
pub fn group(
    doc: &PipelineDoc,
    graph: &NodeGraph,
    group_by: GroupBy,
    is_shared: &dyn Fn(&str) -> bool,
) -> TaskGraph {
    let count = doc.nodes.len();
    let mut sets = DisjointSets::new(count);
    match group_by {
        GroupBy::None => {}
        GroupBy::Memory => {
            for edge in graph.edges.iter().filter(|e| !e.names().all(is_shared)) {
                sets.union(edge.from, edge.to);
            }
        }
        GroupBy::Namespace => {
            let mut first_of: BTreeMap<&str, usize> = BTreeMap::new();
            for (index, node) in doc.nodes.iter().enumerate() {
                if let Some(namespace) = node.top_level_namespace() {
                    let first = *first_of.entry(namespace).or_insert(index);
                    sets.union(first, index);
                }
            }
        }
    }
    merge_cycles(&mut sets, graph);

    // Each group's nodes in topological order.
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &node in &graph.order {
        members.entry(sets.find(node)).or_default().push(node);
    }
    let groups: Vec<Vec<usize>> = members.into_values().collect();
    let mut group_of = vec![0; count];
    for (group_index, nodes) in groups.iter().enumerate() {
        for &node in nodes {
            group_of[node] = group_index;
        }
    }

    // Order the groups topologically, earliest first node first.
    let group_edges: BTreeSet<(usize, usize)> = graph
        .edges
        .iter()
        .map(|e| (group_of[e.from], group_of[e.to]))
        .filter(|(a, b)| a != b)
        .collect();
    let first_position: Vec<usize> = groups.iter().map(|g| graph.position[g[0]]).collect();
    let order = order_groups(groups.len(), &group_edges, &first_position);
    let mut task_index_of_group = vec![0; groups.len()];
    for (task_index, &group_index) in order.iter().enumerate() {
        task_index_of_group[group_index] = task_index;
    }

    let tasks: Vec<Task> = order
        .iter()
        .map(|&g| make_task(doc, &groups[g], group_by))
        .collect();
    let task_of: Vec<usize> = (0..count)
        .map(|node| task_index_of_group[group_of[node]])
        .collect();
    let edges: BTreeSet<(usize, usize)> = group_edges
        .iter()
        .map(|&(a, b)| (task_index_of_group[a], task_index_of_group[b]))
        .collect();
    let dag = Dag::from_edges(tasks.len(), edges);
    TaskGraph {
        tasks,
        dag,
        task_of,
    }
}

fn make_task(doc: &PipelineDoc, nodes: &[usize], group_by: GroupBy) -> Task {
    let names: Vec<&str> = nodes.iter().map(|&n| doc.nodes[n].name.as_str()).collect();
    let label = if names.len() == 1 {
        names[0].to_string()
    } else {
        let namespaces: BTreeSet<Option<&str>> = nodes
            .iter()
            .map(|&n| doc.nodes[n].top_level_namespace())
            .collect();
        match (group_by, namespaces.iter().next()) {
            (GroupBy::Namespace, Some(Some(namespace))) if namespaces.len() == 1 => {
                namespace.to_string()
            }
            _ => format!("{} +{}", names[0], names.len() - 1),
        }
    };
    Task {
        nodes: nodes.to_vec(),
        label,
        identity: names.join("\n"),
    }
}

/// Where a group would form a cycle through tasks outside it (A -> T -> A), every task on the
/// cycle joins the group: the strongly connected components of the group graph are merged.
fn merge_cycles(sets: &mut DisjointSets, graph: &NodeGraph) {
    let count = sets.parent.len();
    let mut successors: Vec<Vec<usize>> = vec![Vec::new(); count];
    for edge in &graph.edges {
        let (a, b) = (sets.find(edge.from), sets.find(edge.to));
        if a != b {
            successors[a].push(b);
        }
    }
    for component in strongly_connected_components(&successors) {
        for pair in component.windows(2) {
            sets.union(pair[0], pair[1]);
        }
    }
}

/// Tarjan's algorithm, iterative (a 10,000-node pipeline must not overflow the stack).
fn strongly_connected_components(successors: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNVISITED: usize = usize::MAX;
    let count = successors.len();
    let mut index = vec![UNVISITED; count];
    let mut low = vec![0; count];
    let mut on_stack = vec![false; count];
    let mut stack = Vec::new();
    let mut next_index = 0;
    let mut components = Vec::new();
    for root in 0..count {
        if index[root] != UNVISITED || successors[root].is_empty() {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (node, ref mut child)) = work.last_mut() {
            if let Some(&next) = successors[node].get(*child) {
                *child += 1;
                if index[next] == UNVISITED {
                    index[next] = next_index;
                    low[next] = next_index;
                    next_index += 1;
                    stack.push(next);
                    on_stack[next] = true;
                    work.push((next, 0));
                } else if on_stack[next] {
                    low[node] = low[node].min(index[next]);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[node]);
                }
                if low[node] == index[node] {
                    let mut component = Vec::new();
                    while let Some(member) = stack.pop() {
                        on_stack[member] = false;
                        component.push(member);
                        if member == node {
                            break;
                        }
                    }
                    if component.len() > 1 {
                        components.push(component);
                    }
                }
            }
        }
    }
    components
}

fn order_groups(
    count: usize,
    edges: &BTreeSet<(usize, usize)>,
    first_position: &[usize],
) -> Vec<usize> {
    let mut successors = vec![Vec::new(); count];
    let mut waiting_on = vec![0usize; count];
    for &(a, b) in edges {
        successors[a].push(b);
        waiting_on[b] += 1;
    }
    let mut ready: BinaryHeap<Reverse<(usize, usize)>> = (0..count)
        .filter(|&g| waiting_on[g] == 0)
        .map(|g| Reverse((first_position[g], g)))
        .collect();
    let mut order = Vec::with_capacity(count);
    while let Some(Reverse((_, group))) = ready.pop() {
        order.push(group);
        for &next in &successors[group] {
            waiting_on[next] -= 1;
            if waiting_on[next] == 0 {
                ready.push(Reverse((first_position[next], next)));
            }
        }
    }
    order
}

/// Union-find with path halving; the smallest index is always the representative, so the
/// result does not depend on the order of unions.
struct DisjointSets {
    parent: Vec<usize>,
}

impl DisjointSets {
    fn new(count: usize) -> Self {
        DisjointSets {
            parent: (0..count).collect(),
        }
    }

    fn find(&mut self, mut item: usize) -> usize {
        while self.parent[item] != item {
            self.parent[item] = self.parent[self.parent[item]];
            item = self.parent[item];
        }
        item
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            let (low, high) = (a.min(b), a.max(b));
            self.parent[high] = low;
        }
    }
}
