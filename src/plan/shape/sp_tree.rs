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
//! The search is bounded twice. A branch of a Parallel no slower than its slowest sibling
//! can be is not searched further (in a pipeline of namespaces, only the slowest ones are).
//! And all of it spends from one budget of work, shared by size, so a plan of any size
//! takes bounded time ([`Search`]).
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
/// Cores up to this size are searched for bands; larger ones are bisected first.
const SEARCH_UP_TO: usize = 1_000;
/// Cores up to this size are searched fully: cut into this many bands of equal task count,
/// every run of consecutive bands a candidate step, in three orders.
const SEARCH_FULL_UP_TO: usize = 128;
const SEARCH_FULL_BANDS: usize = 16;
/// Cores up to this size are searched in every order of [`Search::orders`]; larger ones in
/// the first (the budget is better spent on more of them).
const SEARCH_ORDERS_UP_TO: usize = 512;
/// Each round of [`Builder::refine`] tries this many tasks on each side of each boundary
/// (more measured no better: the bands are searched again afterwards) ...
const REFINE_TASKS: usize = 4;
/// ... for at most this many rounds.
const REFINE_ROUNDS: usize = 3;
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

/// How hard [`decompose`] searches the cores that are not series-parallel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Search {
    /// A large core's tasks are put in order of `weight * earliest finish + (1 - weight) *
    /// latest finish`, for each weight here (the first only above
    /// [`SEARCH_ORDERS_UP_TO`] tasks), and each order searched.
    pub orders: &'static [f64],
    /// A core larger than [`SEARCH_FULL_UP_TO`] is cut into this many bands of equal task
    /// count (in order of mean earliest and latest finish) ...
    pub bands: usize,
    /// ... and a step of the searched sequence is a run of at most this many of them.
    pub span: usize,
    /// Work, in tasks and edges visited, a whole plan may spend: the search gets it less
    /// what planning the rest of the pipeline costs (but never less than a quarter). A core
    /// is searched only while its share (by size) of what is left covers it, so a plan of
    /// any size takes bounded time (about 0.4 s on a 2-core machine) and small pipelines are
    /// searched in full.
    pub budget: u64,
    /// Whether a branch of a Parallel stops being searched once it is no slower than the
    /// slowest other branch's critical path (it cannot make the Parallel faster).
    pub slack: bool,
    /// Whether the bands the search chose trade single tasks across their boundaries
    /// while that makes them faster (on wide, sparse pipelines a band's last tasks often
    /// fit in the next band's slack).
    pub refine: bool,
}

impl Search {
    /// What `plan` uses. Wide bands and more orders matter on wide, sparse pipelines (a
    /// step may hold most of a core, its long chains side by side); the budget (about
    /// 0.2 s on a CI runner) keeps 10,000-node plans fast.
    pub const DEFAULT: Search = Search {
        orders: &[0.5, 0.25, 0.75],
        bands: 8,
        span: 8,
        budget: 105_000_000,
        slack: true,
        refine: true,
    };
    /// The search before the budget, slack and refinement: one order, 16 bands, steps of
    /// at most 4, unbounded.
    /// The plan benchmark prints it beside [`Search::DEFAULT`].
    pub const UNBOUNDED_NARROW: Search = Search {
        orders: &[0.5],
        bands: 16,
        span: 4,
        budget: u64::MAX,
        slack: false,
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
    /// Work (tasks and edges visited) the subtree being built may still spend.
    allot: u64,
    settings: Search,
    /// What visiting each task costs: [`VISIT_WORK`] and its edges (the passes over a
    /// subset follow every edge of its tasks).
    work: Vec<u64>,
}

impl<'a> Builder<'a> {
    fn new(dag: &'a Dag, durations: &'a [f64], search: Search) -> Self {
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
    fn build(&mut self, subset: Vec<usize>, enough: f64) -> SpTree {
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

    /// Independent parts as a Parallel. A branch is enough once it is no slower than the
    /// slowest other branch can ever be (its critical path).
    fn branches(&mut self, components: Vec<Vec<usize>>, enough: f64) -> SpTree {
        if !self.search {
            return parallel_of(components.into_iter().map(|c| self.build(c, enough)));
        }
        let floors: Vec<f64> = components.iter().map(|c| self.critical_path(c)).collect();
        let (first, second) = top_two(&floors);
        let mut left: usize = components.iter().map(Vec::len).sum();
        let trees: Vec<SpTree> = components
            .into_iter()
            .zip(&floors)
            .map(|(component, &floor)| {
                let others = match self.settings.slack {
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
        let floor: f64 = parts.iter().map(|p| self.critical_path(p)).sum();
        if !self.search {
            return sequence(parts.into_iter().map(|p| self.build(p, enough)).collect());
        }
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

    /// A core searched: the greedy cut, the banded search, and searched halves.
    fn searched(&mut self, subset: Vec<usize>, enough: f64) -> SpTree {
        let greedy = self.without_search(|builder| builder.bisect(&subset, enough));
        let lower_bound = self.cut_lower_bound(&subset);
        let good = enough.max(lower_bound) * (1.0 + 1e-9);
        let greedy_makespan = greedy.makespan(self.durations);
        if greedy_makespan <= good || !self.can_search(&subset) {
            return greedy;
        }
        let mut best = match self.banded(&subset, enough) {
            Some((makespan, tree)) if makespan < greedy_makespan => (makespan, tree),
            _ => (greedy_makespan, greedy),
        };
        // The bands are flat: a long task with much slack sits in one of them. Cut in two
        // with each side searched, it can run beside a whole sequence of steps instead.
        if self.halves && best.0 > good && self.can_search(&subset) {
            // Once: searched halves that try halves again would cost the square.
            self.halves = false;
            let halves = self.bisect(&subset, enough);
            self.halves = true;
            let makespan = halves.makespan(self.durations);
            if makespan < best.0 {
                best = (makespan, halves);
            }
        }
        best.1
    }

    /// The core cut in two by [`Self::cheapest_cut`], each side built in turn.
    fn bisect(&mut self, core: &[usize], enough: f64) -> SpTree {
        let (before, after) = self.cheapest_cut(core);
        self.steps(vec![before, after], enough)
    }

    /// The makespan of the greedy tree of a convex subset, without making the tree.
    fn price(&mut self, subset: &[usize]) -> f64 {
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

    /// Moves single tasks across the boundaries of consecutive bands while that lowers the
    /// two bands' greedy makespans: a sink of the earlier band to the later one, a source of
    /// the later band to the earlier one (each band stays convex, and every dependency
    /// points forward). Tried first: the tasks on the bands' critical paths. True when a
    /// band changed.
    fn refine(&mut self, bands: &mut [Vec<usize>]) -> bool {
        let mut changed = false;
        for _ in 0..REFINE_ROUNDS {
            let mut improved = false;
            for i in 0..bands.len().saturating_sub(1) {
                let mut cost = self.price(&bands[i]) + self.price(&bands[i + 1]);
                for forward in [true, false] {
                    let (from, to) = if forward { (i, i + 1) } else { (i + 1, i) };
                    let candidates = self.movable(&bands[from], forward, REFINE_TASKS);
                    for task in candidates {
                        if !self.can_search(&bands[from]) {
                            return changed;
                        }
                        let mut from_band = bands[from].clone();
                        from_band.retain(|&t| t != task);
                        if from_band.is_empty() {
                            continue;
                        }
                        let mut to_band = bands[to].clone();
                        let at = to_band.partition_point(|&t| t < task);
                        to_band.insert(at, task);
                        let moved = self.price(&from_band) + self.price(&to_band);
                        if moved < cost * (1.0 - 1e-9) {
                            cost = moved;
                            bands[from] = from_band;
                            bands[to] = to_band;
                            improved = true;
                            changed = true;
                        }
                    }
                }
            }
            if !improved {
                break;
            }
        }
        changed
    }

    /// Up to `count` tasks of the band that may leave it: sinks (`forward`, to the next
    /// band) by latest earliest finish, or sources (to the band before) by longest tail.
    fn movable(&mut self, band: &[usize], forward: bool, count: usize) -> Vec<usize> {
        self.enter(band);
        let mut ranked: Vec<(f64, usize)> = if forward {
            let finish = self.longest_paths_forward(band);
            band.iter()
                .zip(finish)
                .filter(|&(&t, _)| !self.dag.successors[t].iter().any(|&s| self.inside(s)))
                .map(|(&t, f)| (f, t))
                .collect()
        } else {
            let tail = self.longest_paths_backward(band);
            band.iter()
                .zip(tail)
                .filter(|&(&t, _)| !self.dag.predecessors[t].iter().any(|&p| self.inside(p)))
                .map(|(&t, f)| (f, t))
                .collect()
        };
        ranked.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.into_iter().take(count).map(|(_, t)| t).collect()
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

    fn without_search<T>(&mut self, work: impl FnOnce(&mut Self) -> T) -> T {
        let saved = std::mem::replace(&mut self.search, false);
        let result = work(self);
        self.search = saved;
        result
    }

    /// The core as a sequence of bands, and its makespan: the tasks in the order of a key
    /// that grows along every edge (so each prefix is a down-set), cut into equal runs
    /// ([`SEARCH_FULL_BANDS`], or [`Search::bands`] in a large core); a step of the
    /// sequence is one or more consecutive runs, chosen by dynamic programming over the
    /// steps' greedy makespans (never the whole core: that is what is being cut). `None`
    /// when the core has too few tasks to cut, or the budget ran out before a way through.
    fn banded(&mut self, core: &[usize], enough: f64) -> Option<(f64, SpTree)> {
        self.enter(core);
        let finish = self.longest_paths_forward(core);
        let tail = self.longest_paths_backward(core);
        let full = core.len() <= SEARCH_FULL_UP_TO;
        let (orders, bands, span): (&[f64], usize, usize) = if full {
            (&[1.0, 0.5, 0.0], SEARCH_FULL_BANDS, SEARCH_FULL_BANDS)
        } else {
            let orders = match core.len() {
                size if size <= SEARCH_ORDERS_UP_TO => self.settings.orders,
                _ => &self.settings.orders[..1],
            };
            (orders, self.settings.bands, self.settings.span)
        };
        let bands = bands.min(core.len());
        let mut best: Option<(f64, Vec<Vec<usize>>, Vec<SpTree>)> = None;
        for &weight in orders {
            let order = self.key_order(core, &finish, &tail, weight);
            let bounds: Vec<usize> = (0..=bands).map(|i| i * core.len() / bands).collect();
            // cheapest[b]: the fastest sequence of steps covering runs 0..b, and its last
            // step's first run.
            let mut cheapest = vec![(f64::INFINITY, 0usize); bands + 1];
            cheapest[0].0 = 0.0;
            let mut steps: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
            for end in 1..=bands {
                for start in (0..end).rev() {
                    if (start == 0 && end == bands) || end - start > span {
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
                    if self.allot == 0 {
                        continue;
                    }
                    let price = self.price(&band);
                    let total = cheapest[start].0 + price;
                    if total < cheapest[end].0 {
                        cheapest[end] = (total, start);
                    }
                    steps.insert((start, end), band);
                }
            }
            let makespan = cheapest[bands].0;
            if makespan.is_finite() && best.as_ref().is_none_or(|(m, _, _)| makespan < *m) {
                let mut chosen_bands = Vec::new();
                let mut chosen_trees = Vec::new();
                let mut end = bands;
                while end > 0 {
                    let start = cheapest[end].1;
                    let band = steps.remove(&(start, end))?;
                    let tree = self.without_search(|builder| builder.build(band.clone(), enough));
                    chosen_bands.push(band);
                    chosen_trees.push(tree);
                    end = start;
                }
                chosen_bands.reverse();
                chosen_trees.reverse();
                best = Some((makespan, chosen_bands, chosen_trees));
            }
        }
        let (_, mut chosen_bands, mut chosen_trees) = best?;
        if self.settings.refine && self.refine(&mut chosen_bands) {
            chosen_trees = chosen_bands
                .iter()
                .map(|band| self.without_search(|builder| builder.build(band.clone(), enough)))
                .collect();
        }
        // Each chosen band was built greedily; searched in turn, it may do better.
        let tree = self.improve_steps(chosen_bands, chosen_trees, enough, SEARCH_AGAIN_FROM);
        Some((tree.makespan(self.durations), tree))
    }

    /// Local positions sorted by `weight * earliest finish + (1 - weight) * latest finish`,
    /// ties by position. Both grow by at least a task's duration along its incoming edge,
    /// so every prefix of the order is a down-set of the core.
    fn key_order(&self, core: &[usize], finish: &[f64], tail: &[f64], weight: f64) -> Vec<usize> {
        let total = finish.iter().copied().fold(0.0, f64::max);
        let mut keyed: Vec<(f64, usize)> = core
            .iter()
            .enumerate()
            .map(|(k, &task)| {
                let latest_finish = total - tail[k] + self.durations[task];
                (weight * finish[k] + (1.0 - weight) * latest_finish, k)
            })
            .collect();
        keyed.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        keyed.into_iter().map(|(_, k)| k).collect()
    }

    /// No tree of a connected, series-indecomposable core is faster than this: its top is a
    /// sequence, so it is at least the cheapest cut into a down-set A and the rest B of
    /// `critical_path(A) + critical_path(B)`. A down-set whose critical path is `t` lies
    /// within the tasks that finish by `t` at the earliest, and B holds every task after
    /// and each one's longest path on: so for `t` below the critical path the cheapest cut is
    /// a prefix of the tasks in order of earliest finish, and at the critical path it is
    /// one sink.
    fn cut_lower_bound(&mut self, core: &[usize]) -> f64 {
        self.enter(core);
        let finish = self.longest_paths_forward(core);
        let tail = self.longest_paths_backward(core);
        let critical_path = finish.iter().copied().fold(0.0, f64::max);
        let shortest_sink = core
            .iter()
            .filter(|&&task| !self.dag.successors[task].iter().any(|&s| self.inside(s)))
            .map(|&task| self.durations[task])
            .fold(f64::INFINITY, f64::min);
        let mut by_finish: Vec<(f64, f64)> = finish.into_iter().zip(tail).collect();
        by_finish.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let mut suffix = 0.0f64;
        let mut best = critical_path + shortest_sink;
        for k in (1..by_finish.len()).rev() {
            suffix = suffix.max(by_finish[k].1);
            best = best.min(by_finish[k - 1].0 + suffix);
        }
        best
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
