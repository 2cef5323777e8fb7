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
fn series_parts_split_between_layers_despite_transitive_edges() {
    // Diamond 0 -> {1, 2} -> 3, then 3 -> 4, with a transitive edge 0 -> 4; then 4 and 5
    // both feed 6, and 5 is independent of the rest: only the split before 6 holds.
    let d = dag(
        7,
        &[
            (0, 1),
            (0, 2),
            (1, 3),
            (2, 3),
            (3, 4),
            (0, 4),
            (4, 6),
            (5, 6),
        ],
    );
    let mut builder = Builder::new(&d, &[1.0; 7], Search::DEFAULT);
    assert_eq!(
        builder.series_parts(&[0, 1, 2, 3, 4, 5, 6]),
        vec![vec![0, 1, 2, 3, 4, 5], vec![6]]
    );
    assert_eq!(
        builder.series_parts(&[0, 1, 2, 3, 4, 6]),
        vec![vec![0], vec![1, 2], vec![3], vec![4], vec![6]]
    );
}

#[test]
fn random_cores_stay_close_to_the_critical_path() {
    use crate::synthetic::{random_dag, Rng};
    let mut rng = Rng::new(3);
    let mut ratios = Vec::new();
    for _ in 0..40 {
        let d = random_dag(100, 10, 0.15, &mut rng);
        let durations: Vec<f64> = (0..100).map(|_| rng.log_normal(0.0, 1.0)).collect();
        let tree = decompose(&d, &durations);
        assert!(tree.respects(&d));
        ratios.push(tree.makespan(&durations) / d.critical_path(&durations));
    }
    let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
    let max = ratios.iter().copied().fold(0.0, f64::max);
    // On this family (200 DAGs, `cargo bench --bench plan`) the greedy cut alone
    // averaged 1.027 with a worst of 1.26; the search averages 1.007.
    assert!(mean <= 1.02, "mean makespan / critical path {mean}");
    assert!(max <= 4.0 / 3.0, "worst makespan / critical path {max}");
}

/// Random DAGs of up to 10 tasks, with log-normal durations.
fn small_random_dags(count: usize) -> Vec<(Dag, Vec<f64>)> {
    use crate::synthetic::{random_dag, Rng};
    let mut rng = Rng::new(11);
    (0..count)
        .map(|_| {
            let size = 4 + rng.below(7);
            let d = random_dag(size, 4, 0.4, &mut rng);
            let durations = (0..size).map(|_| rng.log_normal(0.0, 1.0)).collect();
            (d, durations)
        })
        .collect()
}

/// The longest path inside the tasks of `mask`.
fn critical_path_of(d: &Dag, durations: &[f64], mask: u32) -> f64 {
    let mut finish = vec![0.0f64; d.len()];
    let mut longest = 0.0f64;
    for task in (0..d.len()).filter(|t| mask & (1 << t) != 0) {
        let start = d.predecessors[task]
            .iter()
            .filter(|&&p| mask & (1 << p) != 0)
            .map(|&p| finish[p])
            .fold(0.0, f64::max);
        finish[task] = start + durations[task];
        longest = longest.max(finish[task]);
    }
    longest
}

#[test]
fn the_cut_lower_bound_is_the_cheapest_of_every_down_set_cut() {
    let mut checked = 0;
    for (d, durations) in small_random_dags(300) {
        let all = (1u32 << d.len()) - 1;
        let mut cheapest = f64::INFINITY;
        for mask in 1..all {
            let down_set = (0..d.len())
                .filter(|t| mask & (1 << t) != 0)
                .all(|t| d.predecessors[t].iter().all(|&p| mask & (1 << p) != 0));
            if down_set {
                let cost = critical_path_of(&d, &durations, mask)
                    + critical_path_of(&d, &durations, all & !mask);
                cheapest = cheapest.min(cost);
            }
        }
        let mut builder = Builder::new(&d, &durations, Search::DEFAULT);
        let bound = builder.cut_lower_bound(&(0..d.len()).collect::<Vec<_>>());
        assert!(
            (bound - cheapest).abs() <= 1e-9 * cheapest,
            "bound {bound}, cheapest down-set cut {cheapest}, DAG {d:?}"
        );
        checked += 1;
    }
    assert_eq!(checked, 300);
}

#[test]
fn a_price_is_the_greedy_trees_makespan() {
    use crate::synthetic::{random_dag, Rng};
    let mut rng = Rng::new(5);
    for _ in 0..50 {
        let d = random_dag(200, 30, 0.05, &mut rng);
        let durations: Vec<f64> = (0..200).map(|_| rng.log_normal(0.0, 1.0)).collect();
        let all: Vec<usize> = (0..200).collect();
        let mut builder = Builder::new(&d, &durations, Search::DEFAULT);
        let greedy = builder.without_search(|b| b.build(all.clone(), f64::NEG_INFINITY));
        let price = builder.price(&all);
        let makespan = greedy.makespan(&durations);
        assert!(
            (price - makespan).abs() <= 1e-9 * makespan,
            "{price} != {makespan}"
        );
    }
}

/// Pipelines of independent random namespaces, with log-normal durations.
fn namespaced_dags(count: usize, seed: u64) -> Vec<(Dag, Vec<f64>)> {
    use crate::synthetic::{random_dag, Rng};
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            let namespaces = 2 + rng.below(6);
            let mut edges = Vec::new();
            let mut tasks = 0;
            for _ in 0..namespaces {
                let size = 20 + rng.below(60);
                let part = random_dag(size, 8, 0.2, &mut rng);
                edges.extend(part.edges().map(|(a, b)| (a + tasks, b + tasks)));
                tasks += size;
            }
            let d = Dag::from_edges(tasks, edges);
            let durations = (0..tasks).map(|_| rng.log_normal(0.0, 1.0)).collect();
            (d, durations)
        })
        .collect()
}

#[test]
fn a_branch_stops_at_its_slack_without_slowing_the_machine() {
    // Slack always: only the slowest namespaces are searched, and the machine is never
    // slower than searching every one.
    let unbounded = Search {
        budget: u64::MAX,
        slack_below: u64::MAX,
        ..Search::DEFAULT
    };
    let mut stopped = 0;
    for (d, durations) in namespaced_dags(20, 9) {
        let with_slack = decompose_with(&d, &durations, unbounded);
        let without = decompose_with(
            &d,
            &durations,
            Search {
                slack_below: 0,
                ..unbounded
            },
        );
        assert!(with_slack.respects(&d));
        let (fast, full) = (
            with_slack.makespan(&durations),
            without.makespan(&durations),
        );
        assert!(
            fast <= full * (1.0 + 1e-9),
            "with slack {fast}, without {full}"
        );
        stopped += usize::from(with_slack != without);
    }
    assert!(
        stopped > 0,
        "slack never stopped a search: the test checks nothing"
    );
}

#[test]
fn with_budget_to_spare_every_branch_is_searched() {
    // A small pipeline's tree does not depend on which branch is critical: it is the tree
    // of a search with no slack at all (and on these pipelines slack would change it).
    let mut slack_would_differ = 0;
    for (d, durations) in namespaced_dags(10, 21) {
        let never = Search {
            slack_below: 0,
            ..Search::DEFAULT
        };
        let always = Search {
            slack_below: u64::MAX,
            ..Search::DEFAULT
        };
        let full = decompose_with(&d, &durations, never);
        assert_eq!(decompose(&d, &durations), full);
        slack_would_differ += usize::from(decompose_with(&d, &durations, always) != full);
    }
    assert!(
        slack_would_differ > 0,
        "slack changes none of these trees: the test checks nothing"
    );
}

#[test]
fn an_exhausted_budget_keeps_the_greedy_cut_and_every_dependency() {
    use crate::synthetic::{random_dag, Rng};
    let mut rng = Rng::new(13);
    let d = random_dag(400, 200, 0.02, &mut rng);
    let durations: Vec<f64> = (0..400).map(|_| rng.log_normal(0.0, 1.0)).collect();
    let none = decompose_with(
        &d,
        &durations,
        Search {
            budget: 0,
            ..Search::DEFAULT
        },
    );
    let all: Vec<usize> = (0..400).collect();
    let mut builder = Builder::new(&d, &durations, Search::DEFAULT);
    let greedy = builder.without_search(|b| b.build(all, f64::NEG_INFINITY));
    assert_eq!(
        none, greedy,
        "with nothing to spend, the tree is the greedy cut's"
    );
    let searched = decompose(&d, &durations);
    assert!(none.respects(&d) && searched.respects(&d));
    assert!(searched.makespan(&durations) < none.makespan(&durations));
}

#[test]
fn refined_bands_stay_convex_in_dependency_order_and_never_slower() {
    use crate::synthetic::{random_dag, Rng};
    let mut rng = Rng::new(17);
    let mut moved = 0;
    for _ in 0..30 {
        let size = 120 + rng.below(200);
        let d = random_dag(size, 100, 0.03, &mut rng);
        let durations: Vec<f64> = (0..size).map(|_| rng.log_normal(0.0, 1.0)).collect();
        // Four bands of consecutive indices: an index order is topological, so each band
        // is a difference of two down-sets.
        let mut bands: Vec<Vec<usize>> = (0..4)
            .map(|b| (b * size / 4..(b + 1) * size / 4).collect())
            .collect();
        let mut builder = Builder::new(&d, &durations, Search::DEFAULT);
        let before: f64 = bands.iter().map(|b| builder.price(b)).sum();
        let original = bands.clone();
        builder.refine(&mut bands);
        let after: f64 = bands.iter().map(|b| builder.price(b)).sum();
        assert!(after <= before * (1.0 + 1e-9), "refined {after} > {before}");
        moved += usize::from(bands != original);
        let mut band_of = vec![usize::MAX; size];
        for (b, band) in bands.iter().enumerate() {
            assert!(!band.is_empty() && band.windows(2).all(|w| w[0] < w[1]));
            for &task in band {
                assert_eq!(band_of[task], usize::MAX, "task {task} in two bands");
                band_of[task] = b;
            }
        }
        assert!(band_of.iter().all(|&b| b != usize::MAX), "a task was lost");
        for (from, to) in d.edges() {
            assert!(
                band_of[from] <= band_of[to],
                "{from} -> {to} points backward"
            );
        }
        // Convex: a path that leaves a band never comes back to it.
        let sequence_tree = sequence(
            bands
                .iter()
                .map(|band| builder.without_search(|b| b.build(band.clone(), f64::NEG_INFINITY)))
                .collect(),
        );
        assert!(sequence_tree.respects(&d));
    }
    assert!(moved > 0, "no band was refined: the test checks nothing");
}
