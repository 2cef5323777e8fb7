//! The search of a core the greedy cut leaves slower than it must be: bands chosen by
//! dynamic programming, refined and searched again, and the greedy cut with each side
//! searched; and the bounds that stop it early.

use std::collections::BTreeMap;

use super::Builder;
use crate::plan::shape::sp_tree::SpTree;

/// Cores up to this size are searched fully: cut into this many bands of equal task count,
/// every run of consecutive bands a candidate step, in three orders.
const SEARCH_FULL_UP_TO: usize = 128;
const SEARCH_FULL_BANDS: usize = 16;
/// Cores up to this size are searched in every order of
/// [`Search::orders`](crate::plan::shape::sp_tree::Search::orders); larger ones in the first
/// (the budget is better spent on more of them).
const SEARCH_ORDERS_UP_TO: usize = 512;
/// Each round of [`Builder::refine`] tries this many tasks on each side of each boundary
/// (more measured no better: the bands are searched again afterwards) ...
const REFINE_TASKS: usize = 4;
/// ... for at most this many rounds.
const REFINE_ROUNDS: usize = 3;
/// A chosen band this small is not searched again.
const SEARCH_AGAIN_FROM: usize = 8;

impl Builder<'_> {
    /// A core searched: the greedy cut, the banded search, and searched halves.
    pub(super) fn searched(&mut self, subset: Vec<usize>, enough: f64) -> SpTree {
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

    /// Moves single tasks across the boundaries of consecutive bands while that lowers the
    /// two bands' greedy makespans: a sink of the earlier band to the later one, a source of
    /// the later band to the earlier one (each band stays convex, and every dependency
    /// points forward). Tried first: the tasks on the bands' critical paths. True when a
    /// band changed.
    pub(in crate::plan::shape::sp_tree) fn refine(&mut self, bands: &mut [Vec<usize>]) -> bool {
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
        let (lengths, onward) = match forward {
            true => (self.longest_paths_forward(band), &self.dag.successors),
            false => (self.longest_paths_backward(band), &self.dag.predecessors),
        };
        let mut ranked: Vec<(f64, usize)> = band
            .iter()
            .zip(lengths)
            .filter(|&(&task, _)| !onward[task].iter().any(|&next| self.inside(next)))
            .map(|(&task, length)| (length, task))
            .collect();
        ranked.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.into_iter().take(count).map(|(_, t)| t).collect()
    }

    /// The core as a sequence of bands, and its makespan: the tasks in the order of a key
    /// that grows along every edge (so each prefix is a down-set), cut into equal runs
    /// ([`SEARCH_FULL_BANDS`], or in a large core
    /// [`Search::bands`](crate::plan::shape::sp_tree::Search::bands)); a step of the
    /// sequence is one or more consecutive runs, chosen by dynamic programming over the
    /// steps' greedy makespans (never the whole core: that is what is being cut), the
    /// chosen steps then refined and searched again. `None` when the core has too few
    /// tasks to cut, or the budget ran out before a way through.
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
                _ => &self.settings.orders[..self.settings.orders.len().min(1)],
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
    pub(super) fn key_order(
        &self,
        core: &[usize],
        finish: &[f64],
        tail: &[f64],
        weight: f64,
    ) -> Vec<usize> {
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
    pub(in crate::plan::shape::sp_tree) fn cut_lower_bound(&mut self, core: &[usize]) -> f64 {
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
}
