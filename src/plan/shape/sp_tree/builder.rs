//! The recursion that turns a convex set of tasks into a tree: independent parts become a
//! Parallel, parts wholly upstream of the next a Sequence, and a core (neither) is cut in
//! two, or searched (`search.rs`). One budget of work, and where it is short the slack of
//! a Parallel's branches, bound how much searching it does.

use crate::plan::shape::dag::Dag;
use crate::plan::shape::sp_tree::{sequence, Search, SpTree};

mod search;

/// Cores larger than this are cut into parts of comparable size.
const BALANCE_ABOVE: usize = 64;
/// ... into parts of at least 1/BALANCE_FRACTION of the core.
const BALANCE_FRACTION: usize = 8;
/// Cores up to this size are searched for bands; larger ones are bisected first.
const SEARCH_UP_TO: usize = 1_000;
/// Visiting a task costs about as much as following this many edges (measured: about 120 ns
/// a task and 4 ns an edge), so a task's work is this plus its edges.
const VISIT_WORK: usize = 32;
/// Planning the rest of the pipeline (names, the definition, plan.json, the summary) costs
/// about this many units of search work per unit of the pipeline's own work (measured:
/// 0.5 us against 3.9 ns) ...
const PLANNING_WORK: u64 = 130;
/// ... and however large the pipeline, the search keeps at least this share of its budget.
const SEARCH_FLOOR_SHARE: u64 = 4;
/// A search of a core costs about this many times the work of visiting it once; a core is
/// searched only while its share of the budget covers that.
const SEARCH_COST: u64 = 64;

/// The largest and second largest of the values (0 where there are none).
fn top_two(values: &[f64]) -> (f64, f64) {
    values.iter().fold((0.0, 0.0), |(first, second), &v| {
        if v > first {
            (v, first)
        } else {
            (first, second.max(v))
        }
    })
}

fn parallel_of(branches: impl Iterator<Item = SpTree>) -> SpTree {
    SpTree::Parallel(branches.collect())
}

/// The recursion's state: scratch marks over the DAG's tasks, and what is left to spend.
pub(super) struct Builder<'a> {
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
    /// Work (tasks and edges visited) the subtree being built may still spend.
    allot: u64,
    settings: Search,
    /// What visiting each task costs: [`VISIT_WORK`] and its edges (the passes over a
    /// subset follow every edge of its tasks).
    work: Vec<u64>,
}

impl<'a> Builder<'a> {
    pub(super) fn new(dag: &'a Dag, durations: &'a [f64], search: Search) -> Self {
        let mut builder = Builder {
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
            allot: 0,
            settings: search,
            work: (0..dag.len())
                .map(|task| {
                    (VISIT_WORK + dag.successors[task].len() + dag.predecessors[task].len()) as u64
                })
                .collect(),
        };
        // What the rest of planning spends on the pipeline is not the search's to spend.
        let planning = PLANNING_WORK.saturating_mul(builder.work.iter().sum());
        builder.allot = search
            .budget
            .saturating_sub(planning)
            .max(search.budget / SEARCH_FLOOR_SHARE);
        builder
    }

    /// `subset` is sorted (so topologically ordered) and convex. `enough` is a makespan
    /// the caller gains nothing from going below (a slower sibling branch sets it): the
    /// search stops once a tree is that fast. The tree is never slower than
    /// `max(enough, what the search would find with nothing enough)`.
    pub(super) fn build(&mut self, subset: Vec<usize>, enough: f64) -> SpTree {
        self.spend(&subset);
        if subset.len() == 1 {
            return SpTree::Task(subset[0]);
        }
        let components = self.components(&subset);
        if components.len() > 1 {
            return self.branches(components, enough);
        }
        let parts = self.series_parts(&subset);
        if parts.len() > 1 {
            return self.steps(parts, enough);
        }
        if !self.search || subset.len() > SEARCH_UP_TO {
            return self.bisect(&subset, enough);
        }
        self.searched(subset, enough)
    }

    /// Independent parts as a Parallel. Where the budget is short (see
    /// [`Search::slack_below`]), a branch is enough once it is no slower than the slowest
    /// other branch can ever be (its critical path).
    fn branches(&mut self, components: Vec<Vec<usize>>, enough: f64) -> SpTree {
        if !self.search {
            return parallel_of(components.into_iter().map(|c| self.build(c, enough)));
        }
        let floors: Vec<f64> = components.iter().map(|c| self.critical_path(c)).collect();
        let (first, second) = top_two(&floors);
        let work: u64 = components.iter().map(|c| self.work_of(c)).sum();
        let slack = self.allot < self.settings.slack_below.saturating_mul(work);
        let mut left: usize = components.iter().map(Vec::len).sum();
        let trees: Vec<SpTree> = components
            .into_iter()
            .zip(&floors)
            .map(|(component, &floor)| {
                let others = match slack {
                    true if floor == first => second,
                    true => first,
                    false => f64::NEG_INFINITY,
                };
                let share = self.share(component.len(), &mut left);
                self.with_allot(share, |builder| {
                    builder.build(component, enough.max(others))
                })
            })
            .collect();
        SpTree::Parallel(trees)
    }

    /// Parts each wholly upstream of the next, as a Sequence. Where `enough` leaves room
    /// beyond the parts' critical paths, each part is enough once the sequence, with the
    /// parts before it as built and those after it as the greedy cut builds them (the
    /// search only ever makes a part faster), is.
    fn steps(&mut self, parts: Vec<Vec<usize>>, enough: f64) -> SpTree {
        if !self.search {
            return sequence(parts.into_iter().map(|p| self.build(p, enough)).collect());
        }
        let floor: f64 = parts.iter().map(|p| self.critical_path(p)).sum();
        if enough <= floor {
            let mut left: usize = parts.iter().map(Vec::len).sum();
            let trees = parts
                .into_iter()
                .map(|part| {
                    let share = self.share(part.len(), &mut left);
                    self.with_allot(share, |builder| builder.build(part, f64::NEG_INFINITY))
                })
                .collect();
            return sequence(trees);
        }
        let greedy: Vec<SpTree> = parts
            .iter()
            .map(|p| self.without_search(|builder| builder.build(p.clone(), enough)))
            .collect();
        self.improve_steps(parts, greedy, enough, 2)
    }

    /// Each step searched in turn, enough once the whole sequence is `enough` (the steps
    /// after it counted at their current trees); a step keeps its current tree unless the
    /// search finds a faster one.
    fn improve_steps(
        &mut self,
        parts: Vec<Vec<usize>>,
        current: Vec<SpTree>,
        enough: f64,
        search_from: usize,
    ) -> SpTree {
        let mut makespans: Vec<f64> = current.iter().map(|t| t.makespan(self.durations)).collect();
        let mut trees = Vec::with_capacity(parts.len());
        let mut left: usize = parts.iter().map(Vec::len).sum();
        for (i, (part, tree)) in parts.into_iter().zip(current).enumerate() {
            let share = self.share(part.len(), &mut left);
            let others: f64 = makespans
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, m)| m)
                .sum();
            let target = enough - others;
            if makespans[i] <= target || part.len() < search_from {
                trees.push(tree);
                continue;
            }
            let searched = self.with_allot(share, |builder| builder.build(part, target));
            let makespan = searched.makespan(self.durations);
            if makespan < makespans[i] {
                makespans[i] = makespan;
                trees.push(searched);
            } else {
                trees.push(tree);
            }
        }
        sequence(trees)
    }

    /// The core cut in two by [`Self::cheapest_cut`], each side built in turn.
    fn bisect(&mut self, core: &[usize], enough: f64) -> SpTree {
        let (before, after) = self.cheapest_cut(core);
        self.steps(vec![before, after], enough)
    }

    /// The makespan of the greedy tree of a convex subset, without making the tree.
    pub(super) fn price(&mut self, subset: &[usize]) -> f64 {
        self.spend(subset);
        if subset.len() == 1 {
            return self.durations[subset[0]];
        }
        let components = self.components(subset);
        if components.len() > 1 {
            return components.iter().map(|c| self.price(c)).fold(0.0, f64::max);
        }
        let parts = self.series_parts(subset);
        if parts.len() > 1 {
            return parts.iter().map(|p| self.price(p)).sum();
        }
        let (before, after) = self.cheapest_cut(subset);
        self.price(&before) + self.price(&after)
    }

    /// The longest path inside a convex subset.
    fn critical_path(&mut self, subset: &[usize]) -> f64 {
        self.enter(subset);
        self.longest_paths_forward(subset)
            .into_iter()
            .fold(0.0, f64::max)
    }

    /// True while the subtree's share of the budget covers a search of this core.
    fn can_search(&self, core: &[usize]) -> bool {
        self.allot >= SEARCH_COST * self.work_of(core)
    }

    /// What visiting the subset costs: each task and its edges.
    fn work_of(&self, subset: &[usize]) -> u64 {
        subset.iter().map(|&task| self.work[task]).sum()
    }

    fn spend(&mut self, subset: &[usize]) {
        self.allot = self.allot.saturating_sub(self.work_of(subset));
    }

    /// A part's share of what is left to spend, by its size among the parts still to build
    /// (`left`, which this reduces): what one part does not spend goes to the next.
    fn share(&self, tasks: usize, left: &mut usize) -> u64 {
        let share = (self.allot as u128 * tasks as u128 / (*left).max(1) as u128) as u64;
        *left = left.saturating_sub(tasks);
        share
    }

    /// Runs `work` with `allot` to spend, and takes what it spent from the whole.
    fn with_allot<T>(&mut self, allot: u64, work: impl FnOnce(&mut Self) -> T) -> T {
        let whole = self.allot;
        self.allot = allot.min(whole);
        let given = self.allot;
        let result = work(self);
        self.allot = whole - (given - self.allot);
        result
    }

    /// Runs `work` building greedily: the candidates a search prices are not searched
    /// themselves (that would cost the square).
    pub(super) fn without_search<T>(&mut self, work: impl FnOnce(&mut Self) -> T) -> T {
        let saved = std::mem::replace(&mut self.search, false);
        let result = work(self);
        self.search = saved;
        result
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
        let mut count = 0;
        let mut stack = Vec::new();
        for start in 0..subset.len() {
            if component_of[start] != usize::MAX {
                continue;
            }
            component_of[start] = count;
            stack.push(subset[start]);
            while let Some(task) = stack.pop() {
                let neighbours = self.dag.successors[task]
                    .iter()
                    .chain(self.dag.predecessors[task].iter());
                for &next in neighbours {
                    if self.inside(next) && component_of[self.local[next]] == usize::MAX {
                        component_of[self.local[next]] = count;
                        stack.push(next);
                    }
                }
            }
            count += 1;
        }
        if count == 1 {
            return vec![subset.to_vec()];
        }
        // In the subset's order, so each component is sorted.
        let mut components = vec![Vec::new(); count];
        for (&task, &component) in subset.iter().zip(&component_of) {
            components[component].push(task);
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
    pub(super) fn series_parts(&mut self, subset: &[usize]) -> Vec<Vec<usize>> {
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
        let mut best: Option<(f64, usize)> = None;
        let mut best_order = Vec::new();
        let mut suffix = vec![0.0f64; size + 1];
        for weight in [1.0, 0.0] {
            let order = self.key_order(subset, &finish, &tail, weight);
            for p in (0..size).rev() {
                suffix[p] = suffix[p + 1].max(tail[order[p]]);
            }
            let mut prefix = 0.0f64;
            let mut improved = false;
            for k in 1..size {
                prefix = prefix.max(finish[order[k - 1]]);
                if k < min_side || size - k < min_side {
                    continue;
                }
                let cost = prefix + suffix[k];
                if best.is_none_or(|(best_cost, _)| cost < best_cost) {
                    best = Some((cost, k));
                    improved = true;
                }
            }
            if improved {
                best_order = order;
            }
        }
        let (order, count) = match best {
            Some((_, count)) => (best_order, count),
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
