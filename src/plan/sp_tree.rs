//! DAG -> series-parallel tree: the shape of the state machine.
//!
//! A set of tasks that falls apart into independent parts becomes a `Parallel` (one branch
//! per part); a set that splits into A then B, every task of A upstream of every task of B,
//! becomes a `Sequence`. Only where neither applies (a non-series-parallel core) is an
//! ordering added that the pipeline does not have: the down-set cut with the smallest
//! `critical_path(A) + critical_path(B)`. On a series-parallel DAG the tree's makespan
//! therefore equals the critical path.
//!
//! Every subset the recursion visits is convex (a path between two of its tasks stays
//! inside it), so reachability inside a subset is reachability in the subgraph it induces.

use super::dag::Dag;

/// The state machine's shape; leaves are task indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpTree {
    Task(usize),
    /// Children run one after the other.
    Sequence(Vec<SpTree>),
    /// Children run at the same time; the state ends when all have ended.
    Parallel(Vec<SpTree>),
}

/// How many cut thresholds of each kind are tried in a non-series-parallel core.
const CUT_CANDIDATES: usize = 48;
/// Cores larger than this are cut into parts of comparable size.
const BALANCE_ABOVE: usize = 64;
/// ... into parts of at least 1/BALANCE_FRACTION of the core.
const BALANCE_FRACTION: usize = 8;

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
fn sequence(steps: Vec<SpTree>) -> SpTree {
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
fn parallel(branches: Vec<SpTree>) -> SpTree {
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

/// Turns the DAG into a series-parallel tree that respects every dependency.
pub fn decompose(dag: &Dag, durations: &[f64]) -> SpTree {
    if dag.is_empty() {
        return SpTree::Sequence(Vec::new());
    }
    let mut builder = Builder {
        dag,
        durations,
        mark: vec![0; dag.len()],
        generation: 0,
        local: vec![0; dag.len()],
    };
    builder.build((0..dag.len()).collect())
}

struct Builder<'a> {
    dag: &'a Dag,
    durations: &'a [f64],
    /// `mark[task] == generation` while `task` belongs to the subset being examined.
    mark: Vec<u64>,
    generation: u64,
    /// A task's position inside the subset being examined.
    local: Vec<usize>,
}

impl Builder<'_> {
    /// `subset` is sorted (so topologically ordered) and convex.
    fn build(&mut self, subset: Vec<usize>) -> SpTree {
        if subset.len() == 1 {
            return SpTree::Task(subset[0]);
        }
        let components = self.components(&subset);
        if components.len() > 1 {
            return SpTree::Parallel(components.into_iter().map(|c| self.build(c)).collect());
        }
        let parts = self.series_parts(&subset);
        if parts.len() > 1 {
            return sequence(parts.into_iter().map(|p| self.build(p)).collect());
        }
        let (before, after) = self.cheapest_cut(&subset);
        let first = self.build(before);
        let second = self.build(after);
        sequence(vec![first, second])
    }

    fn enter(&mut self, subset: &[usize]) {
        self.generation += 1;
        for (position, &task) in subset.iter().enumerate() {
            self.mark[task] = self.generation;
            self.local[task] = position;
        }
    }

    fn inside(&self, task: usize) -> bool {
        self.mark[task] == self.generation
    }

    /// Weakly connected components of the induced subgraph, each sorted, ordered by their
    /// first task.
    fn components(&mut self, subset: &[usize]) -> Vec<Vec<usize>> {
        self.enter(subset);
        let mut component_of = vec![usize::MAX; subset.len()];
        let mut components: Vec<Vec<usize>> = Vec::new();
        let mut stack = Vec::new();
        for start in 0..subset.len() {
            if component_of[start] != usize::MAX {
                continue;
            }
            let id = components.len();
            let mut members = Vec::new();
            component_of[start] = id;
            stack.push(subset[start]);
            while let Some(task) = stack.pop() {
                members.push(task);
                let neighbours = self.dag.successors[task]
                    .iter()
                    .chain(self.dag.predecessors[task].iter());
                for &next in neighbours {
                    if self.inside(next) && component_of[self.local[next]] == usize::MAX {
                        component_of[self.local[next]] = id;
                        stack.push(next);
                    }
                }
            }
            members.sort_unstable();
            components.push(members);
        }
        components
    }

    /// Every split of the subset into consecutive parts where each part is wholly upstream
    /// of the next. In any topological order such parts are prefixes, so the split after
    /// position `i` is valid exactly when every later task has every task up to `i` among
    /// its ancestors.
    fn series_parts(&mut self, subset: &[usize]) -> Vec<Vec<usize>> {
        self.enter(subset);
        let size = subset.len();
        let words = size.div_ceil(64);
        let mut ancestors = vec![0u64; size * words];
        let mut first_missing = vec![0usize; size];
        for (k, &task) in subset.iter().enumerate() {
            for &parent in &self.dag.predecessors[task] {
                if !self.inside(parent) {
                    continue;
                }
                let p = self.local[parent];
                let (done, row) = ancestors.split_at_mut(k * words);
                let parent_row = &done[p * words..(p + 1) * words];
                for (word, parent_word) in row[..words].iter_mut().zip(parent_row) {
                    *word |= parent_word;
                }
                row[p / 64] |= 1 << (p % 64);
            }
            let row = &ancestors[k * words..(k + 1) * words];
            first_missing[k] = first_zero_bit(row, k);
        }
        let mut parts = Vec::new();
        let mut current = Vec::new();
        let mut min_later = usize::MAX;
        let mut split_after = vec![false; size];
        for k in (1..size).rev() {
            min_later = min_later.min(first_missing[k]);
            split_after[k - 1] = min_later > k - 1;
        }
        for (k, &task) in subset.iter().enumerate() {
            current.push(task);
            if split_after[k] && k + 1 < size {
                parts.push(std::mem::take(&mut current));
            }
        }
        parts.push(current);
        parts
    }

    /// The down-set cut (A before B) of a connected, series-indecomposable subset that adds
    /// the least: the smallest `critical_path(A) + critical_path(B)`. Candidates are the
    /// thresholds on earliest finish (A = what can be done by time t) and on latest start
    /// (B = what need not start before t).
    fn cheapest_cut(&mut self, subset: &[usize]) -> (Vec<usize>, Vec<usize>) {
        self.enter(subset);
        let finish = self.longest_paths_forward(subset);
        let tail = self.longest_paths_backward(subset);
        let total = finish.iter().copied().fold(0.0, f64::max);

        let mut candidates: Vec<Vec<bool>> = Vec::new();
        for threshold in sample_thresholds(&finish) {
            candidates.push(finish.iter().map(|&f| f <= threshold).collect());
        }
        let latest_start: Vec<f64> = tail.iter().map(|&t| total - t).collect();
        for threshold in sample_thresholds(&latest_start) {
            candidates.push(latest_start.iter().map(|&s| s < threshold).collect());
        }
        // Topological prefixes always work, whatever the durations (zero durations make
        // every threshold cut trivial).
        candidates.push((0..subset.len()).map(|i| i < subset.len() / 2).collect());

        // Large cores are cut into parts of comparable size: peeling one cheap task at a
        // time would nest the machine as deep as the pipeline is long (and plan in
        // quadratic time), adding a little delay at every level.
        let min_side = match subset.len() {
            size if size > BALANCE_ABOVE => size / BALANCE_FRACTION,
            _ => 1,
        };
        let mut best: Option<(f64, usize)> = None;
        for (index, in_before) in candidates.iter().enumerate() {
            let before_count = in_before.iter().filter(|&&b| b).count();
            if before_count < min_side || subset.len() - before_count < min_side {
                continue;
            }
            let cost = self.split_cost(subset, in_before);
            if best.is_none_or(|(best_cost, _)| cost < best_cost) {
                best = Some((cost, index));
            }
        }
        let chosen = best.map(|(_, index)| &candidates[index]);
        let mut before = Vec::new();
        let mut after = Vec::new();
        for (position, &task) in subset.iter().enumerate() {
            let goes_first = match chosen {
                Some(in_before) => in_before[position],
                None => position == 0,
            };
            if goes_first {
                before.push(task);
            } else {
                after.push(task);
            }
        }
        (before, after)
    }

    /// Longest path ending at each task (its duration included), inside the subset.
    fn longest_paths_forward(&self, subset: &[usize]) -> Vec<f64> {
        let mut finish = vec![0.0; subset.len()];
        for (k, &task) in subset.iter().enumerate() {
            let start = self.dag.predecessors[task]
                .iter()
                .filter(|&&p| self.inside(p))
                .map(|&p| finish[self.local[p]])
                .fold(0.0, f64::max);
            finish[k] = start + self.durations[task];
        }
        finish
    }

    /// Longest path starting at each task (its duration included), inside the subset.
    fn longest_paths_backward(&self, subset: &[usize]) -> Vec<f64> {
        let mut tail = vec![0.0; subset.len()];
        for (k, &task) in subset.iter().enumerate().rev() {
            let rest = self.dag.successors[task]
                .iter()
                .filter(|&&s| self.inside(s))
                .map(|&s| tail[self.local[s]])
                .fold(0.0, f64::max);
            tail[k] = rest + self.durations[task];
        }
        tail
    }

    /// `critical_path(A) + critical_path(B)` for the cut; `in_before` is by local position.
    fn split_cost(&self, subset: &[usize], in_before: &[bool]) -> f64 {
        let mut finish = vec![0.0; subset.len()];
        let mut makespan = [0.0f64; 2];
        for (k, &task) in subset.iter().enumerate() {
            let side = in_before[k];
            let start = self.dag.predecessors[task]
                .iter()
                .filter(|&&p| self.inside(p) && in_before[self.local[p]] == side)
                .map(|&p| finish[self.local[p]])
                .fold(0.0, f64::max);
            finish[k] = start + self.durations[task];
            let slot = usize::from(!side);
            makespan[slot] = makespan[slot].max(finish[k]);
        }
        makespan[0] + makespan[1]
    }
}

/// Up to [`CUT_CANDIDATES`] distinct values, evenly spread, excluding the largest (a cut must
/// leave something on both sides).
fn sample_thresholds(values: &[f64]) -> Vec<f64> {
    let mut distinct: Vec<f64> = values.to_vec();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    distinct.pop();
    if distinct.len() <= CUT_CANDIDATES {
        return distinct;
    }
    (0..CUT_CANDIDATES)
        .map(|i| distinct[i * (distinct.len() - 1) / (CUT_CANDIDATES - 1)])
        .collect()
}

/// The lowest bit below `limit` that is not set; `limit` when all are.
fn first_zero_bit(row: &[u64], limit: usize) -> usize {
    for (index, &word) in row.iter().enumerate() {
        if word != u64::MAX {
            let bit = index * 64 + (!word).trailing_zeros() as usize;
            return bit.min(limit);
        }
    }
    limit
}

/// The tree of a deployed definition, each Task state matched to a task by `task_of` (its
/// `Payload.nodes`); `None` unless every one of `task_count` tasks appears exactly once and
/// the definition holds nothing but Task and Parallel states (and their Fail states). The
/// planner keeps this tree when it is about as fast as a new one, so a redeploy after
/// durations moved a little changes nothing.
pub fn from_definition(
    definition: &serde_json::Value,
    task_of: &dyn Fn(&[String]) -> Option<usize>,
    task_count: usize,
) -> Option<SpTree> {
    fn machine(
        m: &serde_json::Value,
        task_of: &dyn Fn(&[String]) -> Option<usize>,
        seen: &mut [bool],
    ) -> Option<SpTree> {
        let states = m.get("States")?.as_object()?;
        let mut current = m.get("StartAt")?.as_str()?;
        let mut steps = Vec::new();
        for _ in 0..=states.len() {
            let state = states.get(current)?;
            match state.get("Type")?.as_str()? {
                "Task" => {
                    let nodes = super::task_event::nodes_in_parameters(state.get("Parameters")?)?;
                    let task = task_of(&nodes)?;
                    if std::mem::replace(seen.get_mut(task)?, true) {
                        return None;
                    }
                    steps.push(SpTree::Task(task));
                }
                "Parallel" => {
                    let branches = state
                        .get("Branches")?
                        .as_array()?
                        .iter()
                        .map(|branch| machine(branch, task_of, seen))
                        .collect::<Option<Vec<SpTree>>>()?;
                    steps.push(parallel(branches));
                }
                _ => return None,
            }
            match state.get("Next") {
                Some(next) => current = next.as_str()?,
                None => return Some(sequence(steps)),
            }
        }
        None
    }
    let mut seen = vec![false; task_count];
    let tree = machine(definition, task_of, &mut seen)?;
    seen.iter().all(|&s| s).then_some(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dag(count: usize, edges: &[(usize, usize)]) -> Dag {
        Dag::from_edges(count, edges.iter().copied())
    }

    #[test]
    fn a_chain_is_one_sequence() {
        let d = dag(3, &[(0, 1), (1, 2)]);
        let tree = decompose(&d, &[1.0; 3]);
        assert_eq!(
            tree,
            SpTree::Sequence(vec![SpTree::Task(0), SpTree::Task(1), SpTree::Task(2)])
        );
    }

    #[test]
    fn independent_tasks_run_in_parallel() {
        let d = dag(3, &[]);
        let tree = decompose(&d, &[1.0; 3]);
        assert_eq!(
            tree,
            SpTree::Parallel(vec![SpTree::Task(0), SpTree::Task(1), SpTree::Task(2)])
        );
    }

    #[test]
    fn a_slow_branch_does_not_hold_back_an_unrelated_one() {
        // 0 -> 2 and 1 -> 3, with 1 slow: layers would make 2 wait for 1.
        let d = dag(4, &[(0, 2), (1, 3)]);
        let durations = [1.0, 10.0, 1.0, 1.0];
        let tree = decompose(&d, &durations);
        assert_eq!(tree.makespan(&durations), 11.0);
        assert_eq!(d.layered_makespan(&durations), 11.0);
        assert!(tree.respects(&d));
        let d = dag(4, &[(0, 2), (1, 3)]);
        let durations = [10.0, 1.0, 1.0, 10.0];
        assert_eq!(decompose(&d, &durations).makespan(&durations), 11.0);
        assert_eq!(d.layered_makespan(&durations), 20.0);
    }

    #[test]
    fn the_n_shape_gets_one_added_ordering() {
        // 0->2, 1->2, 1->3: the smallest non-series-parallel DAG.
        let d = dag(4, &[(0, 2), (1, 2), (1, 3)]);
        let durations = [1.0; 4];
        let tree = decompose(&d, &durations);
        assert!(tree.respects(&d));
        assert_eq!(tree.makespan(&durations), 2.0);
    }

    #[test]
    fn respects_catches_a_wrong_order_and_a_missing_task() {
        let d = dag(2, &[(0, 1)]);
        assert!(!SpTree::Parallel(vec![SpTree::Task(0), SpTree::Task(1)]).respects(&d));
        assert!(!SpTree::Sequence(vec![SpTree::Task(1), SpTree::Task(0)]).respects(&d));
        assert!(!SpTree::Task(0).respects(&d));
        assert!(SpTree::Sequence(vec![SpTree::Task(0), SpTree::Task(1)]).respects(&d));
    }

    #[test]
    fn first_zero_bit_finds_gaps_across_words() {
        assert_eq!(first_zero_bit(&[u64::MAX, 0b101], 200), 65);
        assert_eq!(first_zero_bit(&[u64::MAX], 64), 64);
        assert_eq!(first_zero_bit(&[0b1], 5), 1);
    }
}
