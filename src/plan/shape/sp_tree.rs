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
//! tree is slower than the core's critical path, a search replaces it when it finds better:
//! the core is cut into consecutive bands at once, the bands chosen by dynamic programming
//! over their true (built) makespans, and each chosen band is searched again; and the
//! greedy cut in two, each side searched.
//!
//! Every subset the recursion visits is convex (a path between two of its tasks stays
//! inside it), so reachability inside a subset is reachability in the subgraph it induces.

use std::collections::BTreeMap;

use crate::plan::shape::dag::Dag;

/// The state machine's shape; leaves are task indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpTree {
    Task(usize),
    /// Children run one after the other.
    Sequence(Vec<SpTree>),
    /// Children run at the same time; the state ends when all have ended.
    Parallel(Vec<SpTree>),
}

/// Cores larger than this are cut into parts of comparable size.
const BALANCE_ABOVE: usize = 64;
/// ... into parts of at least 1/BALANCE_FRACTION of the core.
const BALANCE_FRACTION: usize = 8;
/// Cores up to this size are searched for bands; larger ones are bisected first (the search
/// costs about 30 greedy builds of the core, and plans of 10,000 tasks must stay fast).
const SEARCH_UP_TO: usize = 1_000;
/// A searched core is first cut into this many bands of equal task count; a band of the
/// search is a run of consecutive ones.
const SEARCH_BANDS: usize = 16;
/// ... of at most this many, in cores above [`SEARCH_FULL_UP_TO`].
const SEARCH_SPAN: usize = 4;
/// Cores up to this size are searched fully: every run of bands, three orders.
const SEARCH_FULL_UP_TO: usize = 128;
/// A chosen band this small is not searched again.
const SEARCH_AGAIN_FROM: usize = 8;

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

/// Turns the DAG into a series-parallel tree that respects every dependency.
pub fn decompose(dag: &Dag, durations: &[f64]) -> SpTree {
    if dag.is_empty() {
        return SpTree::Sequence(Vec::new());
    }
    Builder::new(dag, durations).build((0..dag.len()).collect())
}

struct Builder<'a> {
    dag: &'a Dag,
    durations: &'a [f64],
    /// `mark[task] == generation` while `task` belongs to the subset being examined.
    mark: Vec<u64>,
    generation: u64,
    /// A task's position inside the subset being examined.
    local: Vec<usize>,
    /// False while building the candidates of a search (a search inside one would cost
    /// the square).
    search: bool,
    /// False while building searched halves (see [`Self::build`]).
    halves: bool,
    /// `band_mark[task] == band_generation` while `task` is in the band being bounded
    /// (apart from `mark`: building a band re-enters subsets).
    band_mark: Vec<u64>,
    band_generation: u64,
    /// Each band task's earliest finish inside the band.
    band_finish: Vec<f64>,
}

impl<'a> Builder<'a> {
    fn new(dag: &'a Dag, durations: &'a [f64]) -> Self {
        Builder {
            dag,
            durations,
            mark: vec![0; dag.len()],
            generation: 0,
            local: vec![0; dag.len()],
            search: true,
            halves: true,
            band_mark: vec![0; dag.len()],
            band_generation: 0,
            band_finish: vec![0.0; dag.len()],
        }
    }

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
        if !self.search || subset.len() > SEARCH_UP_TO {
            return self.bisect(&subset);
        }
        let greedy = self.without_search(|builder| builder.bisect(&subset));
        self.enter(&subset);
        let critical_path = self
            .longest_paths_forward(&subset)
            .into_iter()
            .fold(0.0, f64::max);
        let greedy_makespan = greedy.makespan(self.durations);
        if greedy_makespan <= critical_path * (1.0 + 1e-9) {
            return greedy;
        }
        let mut best = match self.banded(&subset) {
            Some((makespan, tree)) if makespan < greedy_makespan => (makespan, tree),
            _ => (greedy_makespan, greedy),
        };
        // The bands are flat: a long task with much slack sits in one of them. Cut in two
        // with each side searched, it can run beside a whole sequence of steps instead.
        if self.halves && best.0 > critical_path * (1.0 + 1e-9) {
            // Once: searched halves that try halves again would cost the square.
            self.halves = false;
            let halves = self.bisect(&subset);
            self.halves = true;
            let makespan = halves.makespan(self.durations);
            if makespan < best.0 {
                best = (makespan, halves);
            }
        }
        best.1
    }

    /// The core cut in two by [`Self::cheapest_cut`], each side built in turn.
    fn bisect(&mut self, core: &[usize]) -> SpTree {
        let (before, after) = self.cheapest_cut(core);
        let first = self.build(before);
        let second = self.build(after);
        sequence(vec![first, second])
    }

    fn without_search<T>(&mut self, work: impl FnOnce(&mut Self) -> T) -> T {
        let saved = std::mem::replace(&mut self.search, false);
        let result = work(self);
        self.search = saved;
        result
    }

    /// The core as a sequence of bands, and its makespan: the tasks in the order of a key
    /// that grows along every edge (so each prefix is a down-set), cut into
    /// [`SEARCH_BANDS`] equal runs; a step of the sequence is one or more consecutive
    /// runs, chosen by dynamic programming over the steps' built makespans (never the
    /// whole core: that is what is being cut). `None` when the core has too few tasks to
    /// cut.
    fn banded(&mut self, core: &[usize]) -> Option<(f64, SpTree)> {
        self.enter(core);
        let finish = self.longest_paths_forward(core);
        let tail = self.longest_paths_backward(core);
        let full = core.len() <= SEARCH_FULL_UP_TO;
        let orders: &[f64] = if full { &[1.0, 0.5, 0.0] } else { &[0.5] };
        let bands = SEARCH_BANDS.min(core.len());
        let mut best: Option<(f64, Vec<Vec<usize>>, Vec<SpTree>)> = None;
        for &weight in orders {
            let order = self.key_order(core, &finish, &tail, weight);
            let bounds: Vec<usize> = (0..=bands).map(|i| i * core.len() / bands).collect();
            // cheapest[b]: the fastest sequence of steps covering runs 0..b, and its last
            // step's first run.
            let mut cheapest = vec![(f64::INFINITY, 0usize); bands + 1];
            cheapest[0].0 = 0.0;
            let mut steps: BTreeMap<(usize, usize), (Vec<usize>, SpTree)> = BTreeMap::new();
            for end in 1..=bands {
                for start in (0..end).rev() {
                    if (start == 0 && end == bands) || (!full && end - start > SEARCH_SPAN) {
                        continue;
                    }
                    let mut band: Vec<usize> = order[bounds[start]..bounds[end]]
                        .iter()
                        .map(|&k| core[k])
                        .collect();
                    band.sort_unstable();
                    // No tree of the band is faster than its critical path: a band that
                    // cannot beat the best way to `end` found so far is not built.
                    if cheapest[start].0 + self.band_critical_path(&band) >= cheapest[end].0 {
                        continue;
                    }
                    let tree = self.without_search(|builder| builder.build(band.clone()));
                    let total = cheapest[start].0 + tree.makespan(self.durations);
                    if total < cheapest[end].0 {
                        cheapest[end] = (total, start);
                    }
                    steps.insert((start, end), (band, tree));
                }
            }
            let makespan = cheapest[bands].0;
            if makespan.is_finite() && best.as_ref().is_none_or(|(m, _, _)| makespan < *m) {
                let mut chosen_bands = Vec::new();
                let mut chosen_trees = Vec::new();
                let mut end = bands;
                while end > 0 {
                    let start = cheapest[end].1;
                    let (band, tree) = steps.remove(&(start, end))?;
                    chosen_bands.push(band);
                    chosen_trees.push(tree);
                    end = start;
                }
                chosen_bands.reverse();
                chosen_trees.reverse();
                best = Some((makespan, chosen_bands, chosen_trees));
            }
        }
        let (_, chosen_bands, chosen_trees) = best?;
        // Each chosen band was built greedily; searched in turn, it may do better.
        let trees: Vec<SpTree> = chosen_bands
            .into_iter()
            .zip(chosen_trees)
            .map(|(band, greedy)| {
                if band.len() < SEARCH_AGAIN_FROM {
                    return greedy;
                }
                let searched = self.build(band);
                if searched.makespan(self.durations) < greedy.makespan(self.durations) {
                    searched
                } else {
                    greedy
                }
            })
            .collect();
        let tree = sequence(trees);
        Some((tree.makespan(self.durations), tree))
    }

    /// Local positions sorted by `weight * earliest finish + (1 - weight) * latest finish`,
    /// ties by position. Both grow by at least a task's duration along its incoming edge,
    /// so every prefix of the order is a down-set of the core.
    fn key_order(&self, core: &[usize], finish: &[f64], tail: &[f64], weight: f64) -> Vec<usize> {
        let total = finish.iter().copied().fold(0.0, f64::max);
        let key: Vec<f64> = core
            .iter()
            .enumerate()
            .map(|(k, &task)| {
                let latest_finish = total - tail[k] + self.durations[task];
                weight * finish[k] + (1.0 - weight) * latest_finish
            })
            .collect();
        let mut order: Vec<usize> = (0..core.len()).collect();
        order.sort_unstable_by(|&a, &b| key[a].total_cmp(&key[b]).then(a.cmp(&b)));
        order
    }

    /// The longest path inside `band` (sorted, so topologically ordered): a lower bound of
    /// any tree of it.
    fn band_critical_path(&mut self, band: &[usize]) -> f64 {
        self.band_generation += 1;
        let generation = self.band_generation;
        for &task in band {
            self.band_mark[task] = generation;
        }
        let mut longest: f64 = 0.0;
        for &task in band {
            let start = self.dag.predecessors[task]
                .iter()
                .filter(|&&p| self.band_mark[p] == generation)
                .map(|&p| self.band_finish[p])
                .fold(0.0, f64::max);
            let finish = start + self.durations[task];
            self.band_finish[task] = finish;
            longest = longest.max(finish);
        }
        longest
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
    /// of the next. At such a split every task before it is an ancestor of every task
    /// after, so the split falls between two layers (a task's layer: the most tasks on a
    /// path ending at it). Between layers `l` and `l + 1` it is a split exactly when no task
    /// of a layer up to `l` has its nearest successor beyond `l + 1` (or none), and every
    /// task whose nearest successor is in `l + 1` has an edge to all of `l + 1`: a path
    /// from the before part's last tasks to the after part's first ones can only be an edge.
    /// Linear in the subset's edges.
    fn series_parts(&mut self, subset: &[usize]) -> Vec<Vec<usize>> {
        self.enter(subset);
        let mut layer = vec![0usize; subset.len()];
        for (k, &task) in subset.iter().enumerate() {
            layer[k] = self.dag.predecessors[task]
                .iter()
                .filter(|&&p| self.inside(p))
                .map(|&p| layer[self.local[p]] + 1)
                .max()
                .unwrap_or(0);
        }
        let layers = layer.iter().max().map_or(0, |&l| l + 1);
        let mut layer_size = vec![0usize; layers];
        for &l in &layer {
            layer_size[l] += 1;
        }
        // splits[l]: the subset splits between layers l and l + 1.
        let mut splits = vec![true; layers];
        splits[layers - 1] = false;
        // +1 where a run of impossible splits starts, -1 where it ends.
        let mut spanned = vec![0i64; layers + 1];
        let mut successor_layers = Vec::new();
        for (k, &task) in subset.iter().enumerate() {
            successor_layers.clear();
            successor_layers.extend(
                self.dag.successors[task]
                    .iter()
                    .filter(|&&s| self.inside(s))
                    .map(|&s| layer[self.local[s]]),
            );
            let nearest = successor_layers.iter().copied().min();
            let spans_until = nearest.map_or(layers, |n| n - 1);
            if layer[k] < spans_until {
                spanned[layer[k]] += 1;
                spanned[spans_until] -= 1;
            }
            if let Some(nearest) = nearest {
                let direct = successor_layers.iter().filter(|&&l| l == nearest).count();
                if direct != layer_size[nearest] {
                    splits[nearest - 1] = false;
                }
            }
        }
        let mut running = 0;
        for (split, change) in splits.iter_mut().zip(&spanned) {
            running += change;
            if running > 0 {
                *split = false;
            }
        }
        let mut part_of_layer = Vec::with_capacity(layers);
        let mut part = 0;
        for split in &splits {
            part_of_layer.push(part);
            part += usize::from(*split);
        }
        let mut parts = vec![Vec::new(); part + 1];
        for (k, &task) in subset.iter().enumerate() {
            parts[part_of_layer[layer[k]]].push(task);
        }
        parts
    }

    /// The down-set cut (A before B) of a connected, series-indecomposable subset that adds
    /// the least: the smallest `critical_path(A) + critical_path(B)`, over every prefix of
    /// the tasks ordered by earliest finish and by latest finish. For a down-set A, its
    /// critical path is its latest earliest-finish and B's is its longest tail, so every
    /// prefix is priced at once.
    fn cheapest_cut(&mut self, subset: &[usize]) -> (Vec<usize>, Vec<usize>) {
        self.enter(subset);
        let finish = self.longest_paths_forward(subset);
        let tail = self.longest_paths_backward(subset);
        let size = subset.len();
        // Large cores are cut into parts of comparable size: peeling one cheap task at a
        // time would nest the machine as deep as the pipeline is long (and plan in
        // quadratic time), adding a little delay at every level.
        let min_side = match size {
            size if size > BALANCE_ABOVE => size / BALANCE_FRACTION,
            _ => 1,
        };
        let mut best: Option<(f64, f64, usize)> = None;
        let mut suffix = vec![0.0f64; size + 1];
        for weight in [1.0, 0.0] {
            let order = self.key_order(subset, &finish, &tail, weight);
            for p in (0..size).rev() {
                suffix[p] = suffix[p + 1].max(tail[order[p]]);
            }
            let mut prefix = 0.0f64;
            for k in 1..size {
                prefix = prefix.max(finish[order[k - 1]]);
                if k < min_side || size - k < min_side {
                    continue;
                }
                let cost = prefix + suffix[k];
                if best.is_none_or(|(best_cost, _, _)| cost < best_cost) {
                    best = Some((cost, weight, k));
                }
            }
        }
        let (order, count) = match best {
            Some((_, weight, count)) => (self.key_order(subset, &finish, &tail, weight), count),
            None => ((0..size).collect(), 1),
        };
        let mut in_before = vec![false; size];
        for &position in &order[..count] {
            in_before[position] = true;
        }
        let mut before = Vec::with_capacity(count);
        let mut after = Vec::with_capacity(size - count);
        for (&task, first) in subset.iter().zip(in_before) {
            if first {
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
