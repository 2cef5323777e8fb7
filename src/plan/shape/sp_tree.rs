//! DAG -> series-parallel tree: the shape of the state machine.
//!
//! A set of tasks that falls apart into independent parts becomes a `Parallel` (one branch
//! per part); a set that splits into A then B, every task of A upstream of every task of B,
//! becomes a `Sequence`. Only where neither applies (a non-series-parallel core) is an
//! ordering added that the pipeline does not have. On a series-parallel DAG the tree's
//! makespan therefore equals the critical path.
//!
//! A core is first cut in two greedily: the down-set cut with the smallest
//! `critical_path(A) + critical_path(B)`, each side built the same way. That sum is only a
//! lower bound on what the sides will cost once they are cut in turn, so where the greedy
//! tree is slower than the core's lower bound (its cheapest cut's critical paths), a
//! search replaces it when it finds better: the core is cut into consecutive bands at once,
//! the bands chosen by dynamic programming over their greedy makespans (priced without
//! making the trees), single tasks then moved across the chosen bands' boundaries while
//! that makes them faster, and each band searched again; and the greedy cut in two, each
//! side searched.
//!
//! The search spends from one budget of work, shared by size, so a plan of any size takes
//! bounded time ([`Search`]). Where the budget is short, a branch of a Parallel no slower
//! than its slowest sibling can be is not searched further (in a pipeline of hundreds of
//! namespaces, only the slowest ones are).
//!
//! Every subset the recursion visits is convex (a path between two of its tasks stays
//! inside it), so reachability inside a subset is reachability in the subgraph it induces.

use crate::plan::shape::dag::Dag;

mod builder;

use builder::Builder;

/// The state machine's shape; leaves are task indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpTree {
    Task(usize),
    /// Children run one after the other.
    Sequence(Vec<SpTree>),
    /// Children run at the same time; the state ends when all have ended.
    Parallel(Vec<SpTree>),
}

impl SpTree {
    /// Expected run time of the tree: a sequence sums, a parallel takes its slowest branch.
    pub fn makespan(&self, durations: &[f64]) -> f64 {
        match self {
            SpTree::Task(task) => durations[*task],
            SpTree::Sequence(children) => children.iter().map(|c| c.makespan(durations)).sum(),
            SpTree::Parallel(children) => children
                .iter()
                .map(|c| c.makespan(durations))
                .fold(0.0, f64::max),
        }
    }

    /// The seed guide's machine: one Parallel state per layer, in a chain.
    pub fn layered(dag: &Dag) -> SpTree {
        let steps = dag
            .layers()
            .into_iter()
            .map(|layer| match layer.as_slice() {
                [single] => SpTree::Task(*single),
                _ => SpTree::Parallel(layer.into_iter().map(SpTree::Task).collect()),
            })
            .collect();
        sequence(steps)
    }

    /// True when the tree runs every task exactly once and never starts a task before one it
    /// depends on has ended.
    pub fn respects(&self, dag: &Dag) -> bool {
        let mut paths: Vec<Option<Vec<(usize, usize)>>> = vec![None; dag.len()];
        let mut next_id = 0;
        if !self.record_paths(&mut Vec::new(), &mut next_id, &mut paths) {
            return false;
        }
        let Some(paths) = paths.into_iter().collect::<Option<Vec<_>>>() else {
            return false;
        };
        dag.edges().all(|(from, to)| {
            let (a, b) = (&paths[from], &paths[to]);
            let divergence = a.iter().zip(b.iter()).position(|(x, y)| x != y);
            match divergence {
                // Same tree node: the child index tells the order; only a Sequence orders.
                Some(i) if a[i].0 == b[i].0 => a[i].0 & 1 == 1 && a[i].1 < b[i].1,
                _ => false,
            }
        })
    }

    /// Records, for every task, the path from the root: (tree node id, child index). Ids are
    /// odd for sequences, even for parallels. Returns false when a task appears twice.
    fn record_paths(
        &self,
        prefix: &mut Vec<(usize, usize)>,
        next_id: &mut usize,
        paths: &mut [Option<Vec<(usize, usize)>>],
    ) -> bool {
        match self {
            SpTree::Task(task) => match paths.get_mut(*task) {
                Some(slot @ None) => {
                    *slot = Some(prefix.clone());
                    true
                }
                _ => false,
            },
            SpTree::Sequence(children) | SpTree::Parallel(children) => {
                let kind = usize::from(matches!(self, SpTree::Sequence(_)));
                let id = *next_id * 2 + kind;
                *next_id += 1;
                children.iter().enumerate().all(|(i, child)| {
                    prefix.push((id, i));
                    let ok = child.record_paths(prefix, next_id, paths);
                    prefix.pop();
                    ok
                })
            }
        }
    }
}

/// A sequence of steps, with nested sequences flattened and a single step unwrapped.
pub(crate) fn sequence(steps: Vec<SpTree>) -> SpTree {
    let mut flat = Vec::with_capacity(steps.len());
    for step in steps {
        match step {
            SpTree::Sequence(inner) => flat.extend(inner),
            other => flat.push(other),
        }
    }
    if flat.len() == 1 {
        flat.pop().unwrap_or(SpTree::Sequence(Vec::new()))
    } else {
        SpTree::Sequence(flat)
    }
}

/// A Parallel of these branches, as [`decompose`] makes them: one branch is that branch,
/// and a branch that is itself a Parallel adds its branches (what a split machine's inlined
/// children read back as).
pub(crate) fn parallel(branches: Vec<SpTree>) -> SpTree {
    let mut flat = Vec::with_capacity(branches.len());
    for branch in branches {
        match branch {
            SpTree::Parallel(inner) => flat.extend(inner),
            other => flat.push(other),
        }
    }
    if flat.len() == 1 {
        flat.pop().unwrap_or(SpTree::Parallel(Vec::new()))
    } else {
        SpTree::Parallel(flat)
    }
}

/// How hard [`decompose`] searches the cores that are not series-parallel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Search {
    /// A large core's tasks are put in order of `weight * earliest finish + (1 - weight) *
    /// latest finish`, for each weight here (the first only, in a core of more than 512
    /// tasks), and each order searched.
    pub orders: &'static [f64],
    /// A core of more than 128 tasks is cut into this many bands of equal task count (in
    /// the orders above) ...
    pub bands: usize,
    /// ... and a step of the searched sequence is a run of at most this many of them.
    pub span: usize,
    /// Work, in tasks and edges visited, a whole plan may spend: the search gets it less
    /// what planning the rest of the pipeline costs (but never less than a quarter). A core
    /// is searched only while its share (by size) of what is left covers it, so a plan of
    /// any size takes bounded time (about 0.4 s on a 2-core machine) and small pipelines are
    /// searched in full.
    pub budget: u64,
    /// While what is left of the budget is less than this many times a Parallel's work, a
    /// branch is not searched further once it is no slower than the slowest other branch
    /// can be: the budget goes to the branches that set the makespan (0: never; `u64::MAX`:
    /// always). With budget to spare every branch is searched, because a tree fast only on
    /// its critical branches is reshaped whenever measured durations move the critical
    /// branch, and a redeploy that changes nothing must change nothing.
    pub slack_below: u64,
    /// Whether the bands the search chose trade single tasks across their boundaries
    /// while that makes them faster (on wide, sparse pipelines a band's last tasks often
    /// fit in the next band's slack).
    pub refine: bool,
}

impl Search {
    /// What `plan` uses. Wide bands, more orders and the refinement matter on wide, sparse
    /// pipelines (a step may hold most of a core, its long chains side by side); the
    /// budget keeps 10,000-node plans under half a second.
    pub const DEFAULT: Search = Search {
        orders: &[0.5, 0.25, 0.75],
        bands: 8,
        span: 8,
        budget: 105_000_000,
        slack_below: 500,
        refine: true,
    };
    /// The search before the budget, slack and refinement: one order, 16 bands, steps of
    /// at most 4, unbounded. The plan benchmark prints it beside [`Search::DEFAULT`].
    pub const UNBOUNDED_NARROW: Search = Search {
        orders: &[0.5],
        bands: 16,
        span: 4,
        budget: u64::MAX,
        slack_below: 0,
        refine: false,
    };
}

/// Turns the DAG into a series-parallel tree that respects every dependency.
pub fn decompose(dag: &Dag, durations: &[f64]) -> SpTree {
    decompose_with(dag, durations, Search::DEFAULT)
}

/// [`decompose`] with another search (for comparisons).
pub fn decompose_with(dag: &Dag, durations: &[f64], search: Search) -> SpTree {
    if dag.is_empty() {
        return SpTree::Sequence(Vec::new());
    }
    Builder::new(dag, durations, search).build((0..dag.len()).collect(), f64::NEG_INFINITY)
}

/// For each Parallel node in pre-order: the first task of each branch.
pub fn parallel_branch_entries(tree: &SpTree) -> Vec<Vec<usize>> {
    fn first_task(tree: &SpTree) -> Option<usize> {
        match tree {
            SpTree::Task(task) => Some(*task),
            SpTree::Sequence(children) | SpTree::Parallel(children) => {
                children.first().and_then(first_task)
            }
        }
    }
    fn walk(tree: &SpTree, out: &mut Vec<Vec<usize>>) {
        match tree {
            SpTree::Task(_) => {}
            SpTree::Sequence(children) => children.iter().for_each(|c| walk(c, out)),
            SpTree::Parallel(children) => {
                out.push(children.iter().filter_map(first_task).collect());
                children.iter().for_each(|c| walk(c, out));
            }
        }
    }
    let mut out = Vec::new();
    walk(tree, &mut out);
    out
}

#[cfg(test)]
mod tests;
