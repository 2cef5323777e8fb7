//! Benchmarks that print numbers (run: `cargo bench --bench plan`).
//!
//! 1. Schedule quality: makespan / critical path of our machine and of the guide's layered
//!    machine, on random DAGs and on series-parallel DAGs, with log-normal durations; each
//!    case with the search before planning at scale (`Search::UNBOUNDED_NARROW`) and now
//!    (`Search::DEFAULT`), on the same DAGs.
//! 2. Plan time and peak memory for 1,000 and 10,000-node pipeline documents, with equal
//!    durations and with log-normal ones as execution history gives them (each size in a
//!    fresh process, so the peak is that size's own); and the decomposition alone, before
//!    and now.

use std::process::Command;
use std::time::Instant;

use kedro_sfn::config::Config;
use kedro_sfn::plan::estimate::durations::History;
use kedro_sfn::plan::shape::dag::Dag;
use kedro_sfn::plan::shape::sp_tree::{decompose_with, Search};
use kedro_sfn::plan::{document::PlanDocument, plan_with_history, DEFINITION_MAX_BYTES};
use kedro_sfn::report::summary::{render, Baseline};
use kedro_sfn::synthetic::{doc_from_dag, modular_dag, random_dag, series_parallel_dag, Rng};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(position) = args.iter().position(|a| a == "--plan-size") {
        let size: usize = args
            .get(position + 1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000);
        let shape = args
            .get(position + 2)
            .map(String::as_str)
            .unwrap_or("modular");
        plan_once(size, shape);
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    schedule_quality();
    if !args.iter().any(|a| a == "--quality-only") {
        plan_speed();
    }
}

/// The two searches every case is run with, on the same DAGs.
const SEARCHES: [(&str, Search); 2] = [
    ("before", Search::UNBOUNDED_NARROW),
    ("now", Search::DEFAULT),
];

#[derive(Default)]
struct Ratios {
    /// Per search of [`SEARCHES`]: each DAG's ratio, and the time spent.
    ours: [Vec<f64>; 2],
    seconds: [f64; 2],
    layered: Vec<f64>,
}

fn mean_max(v: &[f64]) -> (f64, f64) {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let max = v.iter().copied().fold(0.0, f64::max);
    (mean, max)
}

impl Ratios {
    fn print(&self, label: &str) {
        let count = self.layered.len();
        let mut line = format!("{label:<44} n={count:<4}");
        for (i, (name, _)) in SEARCHES.iter().enumerate() {
            let (mean, max) = mean_max(&self.ours[i]);
            let ms = self.seconds[i] * 1000.0 / count as f64;
            line += &format!(" | {name} mean {mean:.4} max {max:.4} {ms:>6.1} ms a DAG");
        }
        let (layered_mean, layered_max) = mean_max(&self.layered);
        println!("{line} | layered mean {layered_mean:.4} max {layered_max:.4}");
    }
}

fn measure(dag: &Dag, durations: &[f64], ratios: &mut Ratios) {
    let critical = dag.critical_path(durations);
    let layered = dag.layered_makespan(durations);
    for (i, (_, search)) in SEARCHES.iter().enumerate() {
        let start = Instant::now();
        let tree = decompose_with(dag, durations, *search);
        ratios.seconds[i] += start.elapsed().as_secs_f64();
        assert!(tree.respects(dag), "the tree must respect every dependency");
        // As `plan` does: the layered machine where it is faster.
        let ours = tree.makespan(durations).min(layered);
        ratios.ours[i].push(ours / critical);
    }
    ratios.layered.push(layered / critical);
}

fn schedule_quality() {
    println!("== schedule quality: makespan / critical path (log-normal durations, sigma 1) ==");
    let mut rng = Rng::new(42);
    // (label, tasks, window, density, DAGs): the goal is a mean of at most 1.05 at
    // every size up to 1,000 tasks and no DAG worse than 4/3.
    let cases: [(&str, usize, usize, f64, usize); 9] = [
        ("random DAG, 20 tasks, sparse", 20, 5, 0.3, 200),
        ("random DAG, 50 tasks", 50, 8, 0.2, 200),
        ("random DAG, 100 tasks, sparse", 100, 10, 0.15, 200),
        ("random DAG, 100 tasks, dense", 100, 10, 0.5, 200),
        ("random DAG, 200 tasks", 200, 15, 0.1, 100),
        ("random DAG, 300 tasks, narrow", 300, 5, 0.4, 100),
        ("random DAG, 500 tasks", 500, 20, 0.1, 200),
        ("random DAG, 1000 tasks", 1000, 20, 0.1, 40),
        ("random DAG, 1000 tasks, long edges", 1000, 40, 0.05, 40),
    ];
    for (label, size, window, density, count) in cases {
        let mut ratios = Ratios::default();
        for _ in 0..count {
            let dag = random_dag(size, window, density, &mut rng);
            let durations: Vec<f64> = (0..size).map(|_| rng.log_normal(0.0, 1.0)).collect();
            measure(&dag, &durations, &mut ratios);
        }
        ratios.print(label);
    }
    // Wide, sparse pipelines (inputs drawn from the 200 tasks before): far from
    // series-parallel, the family of issue 28's goal (mean at most 1.20 at 500 tasks), each
    // density from its own seed.
    for (density, seed) in [(0.01, 1), (0.02, 2), (0.05, 3)] {
        let mut rng = Rng::new(seed);
        let mut ratios = Ratios::default();
        for _ in 0..5 {
            let dag = random_dag(500, 200, density, &mut rng);
            let durations: Vec<f64> = (0..500).map(|_| rng.log_normal(0.0, 1.0)).collect();
            measure(&dag, &durations, &mut ratios);
        }
        ratios.print(&format!(
            "wide DAG, 500 tasks, window 200, density {density}"
        ));
    }
    // A corpus of small random DAGs of every size from 20 to 80 tasks.
    let mut ratios = Ratios::default();
    for size in 20..=80 {
        for _ in 0..20 {
            let window = 3 + rng.below(10);
            let density = 0.1 + 0.4 * rng.unit();
            let dag = random_dag(size, window, density, &mut rng);
            let durations: Vec<f64> = (0..size).map(|_| rng.log_normal(0.0, 1.0)).collect();
            measure(&dag, &durations, &mut ratios);
        }
    }
    ratios.print("random DAG corpus, 20-80 tasks");
    for size in [20, 100, 500] {
        let mut ratios = Ratios::default();
        for _ in 0..200 {
            let dag = series_parallel_dag(size, &mut rng);
            let durations: Vec<f64> = (0..dag.len()).map(|_| rng.log_normal(0.0, 1.0)).collect();
            measure(&dag, &durations, &mut ratios);
        }
        ratios.print(&format!("series-parallel DAG, {size} tasks"));
    }
    let mut ratios = Ratios::default();
    for _ in 0..100 {
        let dag = modular_dag(8, 12, &mut rng);
        let durations: Vec<f64> = (0..dag.len()).map(|_| rng.log_normal(0.0, 1.0)).collect();
        measure(&dag, &durations, &mut ratios);
    }
    ratios.print("modular pipeline, 8 namespaces x 12");
}

fn plan_speed() {
    println!("== plan time and peak memory (pipeline document in memory -> ASL + plan.json + summary.md; with equal durations, and with log-normal ones from execution history) ==");
    let exe = std::env::current_exe().expect("the benchmark knows its own path");
    for shape in ["modular", "random", "wide"] {
        for size in [1_000, 10_000] {
            let output = Command::new(&exe)
                .args(["--plan-size", &size.to_string(), shape])
                .output()
                .expect("the benchmark can run itself");
            print!("{}", String::from_utf8_lossy(&output.stdout));
            if !output.status.success() {
                eprint!("{}", String::from_utf8_lossy(&output.stderr));
            }
        }
    }
}

fn plan_once(size: usize, shape: &str) {
    let mut rng = Rng::new(7);
    let dag = match shape {
        "random" => random_dag(size, 20, 0.1, &mut rng),
        // About 20 edges a task: the search's budget counts edges, so this costs no more.
        "wide" => random_dag(size, 200, 0.05, &mut rng),
        _ => modular_dag(size / 100, 99, &mut rng),
    };
    let doc = doc_from_dag(&dag, &|i| format!("namespace_{}.node_{i}", i / 100));
    let config = Config::default();
    // Durations as past runs give them: log-normal, as in the quality section.
    let measured: Vec<f64> = (0..dag.len()).map(|_| rng.log_normal(0.0, 1.0)).collect();
    let equal = vec![1.0; dag.len()];
    // The decomposition alone, before and now, with equal and with measured durations.
    let mut decompositions = Vec::new();
    for (durations_label, durations) in [("equal", &equal), ("log-normal", &measured)] {
        for (name, search) in SEARCHES {
            let start = Instant::now();
            let tree = decompose_with(&dag, durations, search);
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            let ratio = tree.makespan(durations) / dag.critical_path(durations);
            decompositions.push(format!(
                "{durations_label} {name} {ms:.1} ms ({ratio:.3} x the critical path)"
            ));
        }
    }
    let start = Instant::now();
    let checked = kedro_sfn::plan::check(&doc, &config).expect("checks run");
    let check_ms = start.elapsed().as_secs_f64() * 1000.0;
    drop(checked);
    // Every node its own task, each with runs of its measured duration.
    let mut history = History::default();
    for (node, &seconds) in doc.nodes.iter().zip(&measured) {
        for _ in 0..3 {
            history.record(std::slice::from_ref(&node.name), seconds);
        }
    }
    let runs = 5;
    let mut lines = Vec::new();
    for (label, history) in [("equal", History::default()), ("log-normal", history)] {
        let mut best = f64::MAX;
        let mut tasks = 0;
        let mut sizes = [0usize; 3];
        let mut machines = (0usize, 0usize);
        for _ in 0..runs {
            // As `plan` does: the size check's compact text, then each output made, written
            // (here: measured) and freed before the next.
            let start = Instant::now();
            let plan = plan_with_history(&doc, &config, history.clone())
                .expect("the synthetic pipeline plans");
            // Every definition: the root's, and each child's where the pipeline is split
            // (as `plan` writes them: children reindented from their compact text).
            let mut definition = kedro_sfn::report::json_text::to_pretty(&plan.definition)
                .expect("serializes")
                .len();
            let mut largest = serde_json::to_string(&plan.definition).map_or(0, |d| d.len());
            for child in &plan.children {
                largest = largest.max(child.bytes);
                definition +=
                    kedro_sfn::report::json_text::pretty_from_compact(&child.definition_text).len();
            }
            assert!(largest <= DEFINITION_MAX_BYTES);
            machines = (plan.children.len(), largest);
            let document = PlanDocument::new(&plan, "empty").to_json().len();
            let summary = render(
                &plan,
                &Baseline::Empty {
                    reason: "benchmark".into(),
                },
                None,
            )
            .len();
            best = best.min(start.elapsed().as_secs_f64());
            tasks = plan.tasks.len();
            sizes = [definition, document, summary];
        }
        lines.push(format!(
            "  plan, {label} durations: best of {runs} {:>6.1} ms, output {} KiB (definitions {} KiB, plan.json {} KiB, summary.md {} KiB), {tasks} tasks, {}",
            best * 1000.0,
            sizes.iter().sum::<usize>() / 1024,
            sizes[0] / 1024,
            sizes[1] / 1024,
            sizes[2] / 1024,
            match machines {
                (0, largest) => format!("one state machine ({} KiB)", largest / 1024),
                (children, largest) => format!(
                    "a root and {children} child state machines (largest {} KiB)",
                    largest / 1024
                ),
            }
        ));
    }
    println!(
        "{shape:<8} {:>6} nodes: peak RSS {} MiB, group+check {check_ms:.1} ms",
        doc.nodes.len(),
        peak_rss_kib() / 1024,
    );
    for line in lines {
        println!("{line}");
    }
    println!("  decompose: {}", decompositions.join(" | "));
}

/// The process's peak resident set size (Linux `VmHWM`).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
