//! What one run of a state machine is expected to take and cost: the run time (the slowest
//! chain of tasks as the machine orders them) and the bill of one successful execution, so a
//! reviewer sees "+12 s, +$0.004 per run" next to the change that causes it.
//!
//! Prices are AWS's published list prices for `us-east-1` (Lambda: x86_64 and arm64
//! duration, requests, ephemeral storage beyond the free 512 MB; Step Functions Standard:
//! state transitions), as of [`LIST_PRICES_AS_OF`]; `prices:` in kedro-sfn.yml replaces any
//! of them. Lambda's free tier is left out: an estimate per run should not depend on what
//! else the account runs that month.

pub mod durations;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::config::PriceOverrides;

use crate::plan::definition::view::{Machine, StateType};
use crate::plan::deployed::DeployedFunction;
use crate::plan::deployed::{family_of, DeployedTaskDefinition};
use crate::plan::estimate::durations::TaskDurations;
use crate::plan::shape::sp_tree::SpTree;

/// When the built-in prices were read off AWS's pricing pages.
pub const LIST_PRICES_AS_OF: &str = "2026-12-01";

/// The region whose list prices are built in.
pub const LIST_PRICES_REGION: &str = "us-east-1";

/// USD prices the estimate uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prices {
    /// `us-east-1 list prices as of …`, or `config` when any price was overridden.
    pub source: String,
    pub lambda_gb_second_x86_64: f64,
    pub lambda_gb_second_arm64: f64,
    pub lambda_request: f64,
    pub lambda_ephemeral_gb_second: f64,
    pub state_transition: f64,
    pub fargate_vcpu_hour_x86_64: f64,
    pub fargate_vcpu_hour_arm64: f64,
    pub fargate_gb_hour_x86_64: f64,
    pub fargate_gb_hour_arm64: f64,
    /// Fargate ephemeral storage beyond the free 20 GB, per GB-hour.
    pub fargate_ephemeral_gb_hour: f64,
}

impl Prices {
    /// The built-in table, with the config's overrides applied.
    pub fn from_config(overrides: &PriceOverrides) -> Prices {
        Prices::for_region(overrides, None)
    }

    /// [`Prices::from_config`] for a machine in `region`: the built-in list is us-east-1's,
    /// and the source says so where the machine runs elsewhere (prices differ by region).
    pub fn for_region(overrides: &PriceOverrides, region: Option<&str>) -> Prices {
        let elsewhere = match region {
            Some(region) if region != LIST_PRICES_REGION => {
                format!(" (this machine is in {region}, where prices differ)")
            }
            _ => String::new(),
        };
        let list = Prices {
            source: format!(
                "{LIST_PRICES_REGION} list prices as of {LIST_PRICES_AS_OF}{elsewhere}"
            ),
            lambda_gb_second_x86_64: 0.000_016_666_7,
            lambda_gb_second_arm64: 0.000_013_333_4,
            // $0.20 per million requests.
            lambda_request: 0.000_000_2,
            lambda_ephemeral_gb_second: 0.000_000_030_9,
            // $0.025 per 1,000 state transitions (Standard workflows).
            state_transition: 0.000_025,
            // Fargate, Linux.
            fargate_vcpu_hour_x86_64: 0.040_48,
            fargate_vcpu_hour_arm64: 0.032_38,
            fargate_gb_hour_x86_64: 0.004_445,
            fargate_gb_hour_arm64: 0.003_56,
            fargate_ephemeral_gb_hour: 0.000_111,
        };
        if overrides == &PriceOverrides::default() {
            return list;
        }
        Prices {
            source: format!("kedro-sfn.yml `prices:` over {}", list.source),
            lambda_gb_second_x86_64: overrides
                .lambda_gb_second_x86_64
                .unwrap_or(list.lambda_gb_second_x86_64),
            lambda_gb_second_arm64: overrides
                .lambda_gb_second_arm64
                .unwrap_or(list.lambda_gb_second_arm64),
            lambda_request: overrides
                .lambda_requests_per_million
                .map_or(list.lambda_request, |p| p / 1_000_000.0),
            lambda_ephemeral_gb_second: overrides
                .lambda_ephemeral_gb_second
                .unwrap_or(list.lambda_ephemeral_gb_second),
            state_transition: overrides
                .state_transitions_per_thousand
                .map_or(list.state_transition, |p| p / 1_000.0),
            fargate_vcpu_hour_x86_64: overrides
                .fargate_vcpu_hour_x86_64
                .unwrap_or(list.fargate_vcpu_hour_x86_64),
            fargate_vcpu_hour_arm64: overrides
                .fargate_vcpu_hour_arm64
                .unwrap_or(list.fargate_vcpu_hour_arm64),
            fargate_gb_hour_x86_64: overrides
                .fargate_gb_hour_x86_64
                .unwrap_or(list.fargate_gb_hour_x86_64),
            fargate_gb_hour_arm64: overrides
                .fargate_gb_hour_arm64
                .unwrap_or(list.fargate_gb_hour_arm64),
            fargate_ephemeral_gb_hour: overrides
                .fargate_ephemeral_gb_hour
                .unwrap_or(list.fargate_ephemeral_gb_hour),
        }
    }
}

/// What one task runs on, for its share of the bill.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskRun {
    pub seconds: f64,
    pub memory_mb: u32,
    pub ephemeral_storage_mb: u32,
    pub arm64: bool,
    /// Fargate CPU units, for a task that runs on ECS (then billed per vCPU and GB hour).
    pub fargate_cpu: Option<u32>,
}

/// One run of a machine, expected.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// The slowest chain of Task states as the machine orders them: its run time.
    pub run_time_s: f64,
    /// The Task states on that chain, first to last.
    pub longest_path: Vec<String>,
    /// States a successful execution enters (every state but the Fail states).
    pub state_transitions: usize,
    pub lambda_usd: f64,
    /// The tasks that run on ECS Fargate.
    pub ecs_usd: f64,
    pub step_functions_usd: f64,
    pub total_usd: f64,
}

/// Lambda's free ephemeral storage.
const FREE_EPHEMERAL_MB: u32 = 512;
/// Lambda's memory when a function says nothing.
const DEFAULT_MEMORY_MB: u32 = 128;

/// Estimates one successful run of `definition`, whose Task states run as `tasks` says
/// (a Task state missing there counts as taking no time on no memory).
pub fn estimate(
    definition: &Value,
    tasks: &BTreeMap<String, TaskRun>,
    prices: &Prices,
) -> Estimate {
    estimate_in_order(
        definition,
        &crate::plan::definition::asl::tasks_of(definition),
        tasks,
        prices,
    )
}

/// [`estimate`] with the definition's order already read ([`crate::plan::definition::asl::tasks_of`]).
fn estimate_in_order(
    definition: &Value,
    order: &BTreeMap<String, (Vec<String>, BTreeSet<String>)>,
    tasks: &BTreeMap<String, TaskRun>,
    prices: &Prices,
) -> Estimate {
    let (run_time_s, longest_path) = longest_path(order, tasks);
    let state_transitions = entered_states(definition);
    priced(
        run_time_s,
        longest_path,
        state_transitions,
        order.keys().filter_map(|state| tasks.get(state)),
        prices,
    )
}

/// An estimate from its run time, path and transitions, the tasks' runs priced.
fn priced<'a>(
    run_time_s: f64,
    longest_path: Vec<String>,
    state_transitions: usize,
    runs: impl Iterator<Item = &'a TaskRun>,
    prices: &Prices,
) -> Estimate {
    let (lambda_usd, ecs_usd) = compute_costs(runs, prices);
    let step_functions_usd = state_transitions as f64 * prices.state_transition;
    Estimate {
        run_time_s,
        longest_path,
        state_transitions,
        lambda_usd,
        ecs_usd,
        step_functions_usd,
        total_usd: lambda_usd + ecs_usd + step_functions_usd,
    }
}

/// One run of a planned machine, from its tree (what its definition renders: a Task state
/// per task, a Parallel state per Parallel node) in linear time, with no walk of the JSON;
/// equal to [`estimate`] of the rendered definition (tested).
pub fn planned(tree: &SpTree, states: &[String], runs: &[TaskRun], prices: &Prices) -> Estimate {
    /// Adds the tree's longest chain to `path` (first task first); returns its run time and
    /// how many Parallel states it has.
    fn walk(tree: &SpTree, runs: &[TaskRun], path: &mut Vec<usize>) -> (f64, usize) {
        match tree {
            SpTree::Task(task) => {
                path.push(*task);
                (runs.get(*task).map_or(0.0, |r| r.seconds), 0)
            }
            SpTree::Sequence(children) => {
                children.iter().fold((0.0, 0), |(time, parallels), child| {
                    let (t, p) = walk(child, runs, path);
                    (time + t, parallels + p)
                })
            }
            SpTree::Parallel(children) => {
                let mut best: Option<(f64, Vec<usize>)> = None;
                let mut parallels = 1;
                for child in children {
                    let mut branch = Vec::new();
                    let (time, p) = walk(child, runs, &mut branch);
                    parallels += p;
                    if best.as_ref().is_none_or(|(t, _)| time > *t) {
                        best = Some((time, branch));
                    }
                }
                let (time, branch) = best.unwrap_or_default();
                path.extend(branch);
                (time, parallels)
            }
        }
    }
    let mut path = Vec::new();
    let (run_time_s, parallels) = walk(tree, runs, &mut path);
    priced(
        run_time_s,
        path.iter().map(|&t| states[t].clone()).collect(),
        runs.len() + parallels,
        runs.iter(),
        prices,
    )
}

/// The deployed machine's expected run, from its own definition and functions, with the
/// durations the plan would use for the same nodes (so the delta shows what the change does,
/// not a change of estimate). A function no longer deployed counts as Lambda's defaults.
pub fn deployed(
    definition: &Value,
    functions: &BTreeMap<String, DeployedFunction>,
    task_definitions: &BTreeMap<String, DeployedTaskDefinition>,
    durations: &TaskDurations,
    prices: &Prices,
) -> Estimate {
    let order = crate::plan::definition::asl::tasks_of(definition);
    let mut runs = BTreeMap::new();
    for (state, task) in crate::plan::definition::asl::task_states(definition) {
        let nodes = order
            .get(state)
            .map(|(nodes, _)| nodes.as_slice())
            .unwrap_or(&[]);
        let seconds = durations.expected(nodes).seconds;
        if let Some(family) = task
            .pointer("/Parameters/TaskDefinition")
            .and_then(Value::as_str)
            .map(family_of)
        {
            let deployed = task_definitions.get(family);
            let size = |get: &dyn Fn(&DeployedTaskDefinition) -> Option<u32>, default: u32| {
                deployed.and_then(get).unwrap_or(default)
            };
            runs.insert(
                state.to_string(),
                TaskRun {
                    seconds,
                    memory_mb: size(&|t| t.memory_mb, crate::plan::ecs::defaults::MEMORY_MB),
                    ephemeral_storage_mb: 20 * 1024,
                    arm64: false,
                    fargate_cpu: Some(size(&|t| t.cpu, crate::plan::ecs::defaults::CPU)),
                },
            );
            continue;
        }
        let function = task
            .pointer("/Parameters/FunctionName")
            .and_then(Value::as_str)
            .map(crate::plan::deployed::function_name_of)
            .and_then(|name| functions.get(name));
        runs.insert(
            state.to_string(),
            TaskRun {
                seconds,
                memory_mb: function.map_or(DEFAULT_MEMORY_MB, |f| f.memory_mb),
                ephemeral_storage_mb: function
                    .map_or(FREE_EPHEMERAL_MB, |f| f.ephemeral_storage_mb),
                arm64: function.is_some_and(|f| f.architecture == "arm64"),
                fargate_cpu: None,
            },
        );
    }
    estimate_in_order(definition, &order, &runs, prices)
}

/// The Lambda and the Fargate share of these tasks' runs.
fn compute_costs<'a>(runs: impl Iterator<Item = &'a TaskRun>, prices: &Prices) -> (f64, f64) {
    runs.fold((0.0, 0.0), |(lambda, ecs), run| match run.fargate_cpu {
        None => (lambda + lambda_cost(run, prices), ecs),
        Some(_) => (lambda, ecs + fargate_cost(run, prices)),
    })
}

/// Fargate bills from a minute up, per vCPU and GB of memory, and for ephemeral storage
/// beyond the free 20 GB.
const FARGATE_MINIMUM_S: f64 = 60.0;
const FARGATE_FREE_EPHEMERAL_GB: f64 = 20.0;

/// A run as it went: each task's measured seconds (`seconds[t]`, by the order of `runs`;
/// `None` for a task that did not run) at its planned size, the run's measured length, and
/// the state transitions the plan expects (a run that failed made fewer).
pub fn measured(
    runs: &[TaskRun],
    seconds: &[Option<f64>],
    run_time_s: f64,
    longest_path: Vec<String>,
    state_transitions: usize,
    prices: &Prices,
) -> Estimate {
    let ran: Vec<TaskRun> = runs
        .iter()
        .zip(seconds)
        .filter_map(|(run, seconds)| {
            Some(TaskRun {
                seconds: (*seconds)?,
                ..*run
            })
        })
        .collect();
    priced(
        run_time_s,
        longest_path,
        state_transitions,
        ran.iter(),
        prices,
    )
}

/// One ECS task on Fargate.
pub fn fargate_cost(run: &TaskRun, prices: &Prices) -> f64 {
    let hours = run.seconds.max(FARGATE_MINIMUM_S) / 3600.0;
    let vcpu = f64::from(run.fargate_cpu.unwrap_or(0)) / 1024.0;
    let gb = f64::from(run.memory_mb) / 1024.0;
    let (per_vcpu, per_gb) = if run.arm64 {
        (prices.fargate_vcpu_hour_arm64, prices.fargate_gb_hour_arm64)
    } else {
        (
            prices.fargate_vcpu_hour_x86_64,
            prices.fargate_gb_hour_x86_64,
        )
    };
    let extra_storage_gb =
        (f64::from(run.ephemeral_storage_mb) / 1024.0 - FARGATE_FREE_EPHEMERAL_GB).max(0.0);
    hours * (vcpu * per_vcpu + gb * per_gb + extra_storage_gb * prices.fargate_ephemeral_gb_hour)
}

/// One invocation: duration by memory (and storage beyond the free part) plus the request.
pub fn lambda_cost(run: &TaskRun, prices: &Prices) -> f64 {
    let gb = f64::from(run.memory_mb) / 1024.0;
    let per_gb_second = if run.arm64 {
        prices.lambda_gb_second_arm64
    } else {
        prices.lambda_gb_second_x86_64
    };
    let extra_storage_gb =
        f64::from(run.ephemeral_storage_mb.saturating_sub(FREE_EPHEMERAL_MB)) / 1024.0;
    gb * run.seconds * per_gb_second
        + extra_storage_gb * run.seconds * prices.lambda_ephemeral_gb_second
        + prices.lambda_request
}

/// The latest-finishing chain through `order` (state -> its nodes and the states it waits
/// for), walked without recursion so a 10,000-task chain cannot overflow the stack.
fn longest_path(
    order: &BTreeMap<String, (Vec<String>, BTreeSet<String>)>,
    tasks: &BTreeMap<String, TaskRun>,
) -> (f64, Vec<String>) {
    let mut finish: BTreeMap<&str, (f64, Option<&str>)> = BTreeMap::new();
    for start in order.keys() {
        let mut stack: Vec<&str> = vec![start];
        while let Some(&state) = stack.last() {
            if finish.contains_key(state) {
                stack.pop();
                continue;
            }
            let waits = order.get(state).map(|(_, w)| w);
            let pending: Vec<&str> = waits
                .into_iter()
                .flatten()
                .map(String::as_str)
                .filter(|w| !finish.contains_key(w) && order.contains_key(*w))
                .collect();
            if !pending.is_empty() && stack.len() <= order.len() {
                stack.extend(pending);
                continue;
            }
            let (start_s, before) = waits
                .into_iter()
                .flatten()
                .filter_map(|w| finish.get(w.as_str()).map(|(f, _)| (*f, w.as_str())))
                .fold((0.0, None), |best: (f64, Option<&str>), (f, w)| {
                    if best.1.is_none() || f > best.0 {
                        (f, Some(w))
                    } else {
                        best
                    }
                });
            let seconds = tasks.get(state).map_or(0.0, |t| t.seconds);
            finish.insert(state, (start_s + seconds, before));
            stack.pop();
        }
    }
    let Some((&last, &(total, _))) = finish.iter().fold(
        None,
        |best: Option<(&&str, &(f64, Option<&str>))>, entry| match best {
            Some(b) if b.1 .0 >= entry.1 .0 => Some(b),
            _ => Some(entry),
        },
    ) else {
        return (0.0, Vec::new());
    };
    let mut path = vec![last.to_string()];
    let mut current = last;
    while let Some((_, Some(before))) = finish.get(current) {
        path.push(before.to_string());
        current = before;
        if path.len() > finish.len() {
            break;
        }
    }
    path.reverse();
    (total, path)
}

/// The states a successful execution enters: all but the Fail states, inside Parallel
/// branches too (each branch's states are entered once per execution).
fn entered_states(machine: &Value) -> usize {
    Machine::new(machine)
        .all_states()
        .iter()
        .filter(|state| state.kind() != StateType::Fail)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(seconds: f64, memory_mb: u32) -> TaskRun {
        TaskRun {
            seconds,
            memory_mb,
            ephemeral_storage_mb: 512,
            arm64: false,
            fargate_cpu: None,
        }
    }

    fn task(next: Option<&str>) -> Value {
        let mut state = json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"Payload": {"nodes": ["n"]}}});
        match next {
            Some(next) => state["Next"] = json!(next),
            None => state["End"] = json!(true),
        }
        state
    }

    /// A, then B and C in parallel, then D; plus two Fail states.
    fn machine() -> Value {
        json!({
            "StartAt": "A",
            "States": {
                "A": task(Some("P")),
                "P": {"Type": "Parallel", "Next": "D", "Branches": [
                    {"StartAt": "B", "States": {"B": task(None), "B failed": {"Type": "Fail"}}},
                    {"StartAt": "C", "States": {"C": task(None)}}
                ]},
                "D": task(None),
                "D failed": {"Type": "Fail"}
            }
        })
    }

    #[test]
    fn the_run_time_follows_the_slowest_branch() {
        let tasks = BTreeMap::from([
            ("A".to_string(), run(2.0, 1024)),
            ("B".to_string(), run(10.0, 1024)),
            ("C".to_string(), run(3.0, 1024)),
            ("D".to_string(), run(1.0, 1024)),
        ]);
        let estimate = estimate(
            &machine(),
            &tasks,
            &Prices::from_config(&Default::default()),
        );
        assert_eq!(estimate.run_time_s, 13.0);
        assert_eq!(estimate.longest_path, ["A", "B", "D"]);
        // A, P, B, C, D: the Fail states are not entered on success.
        assert_eq!(estimate.state_transitions, 5);
    }

    #[test]
    fn the_bill_matches_hand_computed_figures() {
        let list = Prices::from_config(&Default::default());
        // 2 GB for 30 s on x86_64: 60 GB-s at $0.0000166667, plus one request at $0.0000002.
        let x86 = lambda_cost(&run(30.0, 2048), &list);
        assert!(
            (x86 - (60.0 * 0.000_016_666_7 + 0.000_000_2)).abs() < 1e-12,
            "{x86}"
        );
        // The same on arm64 is 20 % cheaper per GB-s.
        let arm = lambda_cost(
            &TaskRun {
                arm64: true,
                ..run(30.0, 2048)
            },
            &list,
        );
        assert!(
            (arm - (60.0 * 0.000_013_333_4 + 0.000_000_2)).abs() < 1e-12,
            "{arm}"
        );
        // 10,240 MB of disk bills 9,728 MB beyond the free 512: 9.5 GB x 30 s.
        let disk = lambda_cost(
            &TaskRun {
                ephemeral_storage_mb: 10_240,
                ..run(30.0, 2048)
            },
            &list,
        );
        assert!(
            (disk - x86 - 9.5 * 30.0 * 0.000_000_030_9).abs() < 1e-12,
            "{disk}"
        );

        // The whole machine: four 1 GB tasks of 2 + 10 + 3 + 1 = 16 s, 5 transitions.
        let tasks: BTreeMap<String, TaskRun> = [("A", 2.0), ("B", 10.0), ("C", 3.0), ("D", 1.0)]
            .into_iter()
            .map(|(s, t)| (s.to_string(), run(t, 1024)))
            .collect();
        let estimate = estimate(&machine(), &tasks, &list);
        let lambda = 16.0 * 0.000_016_666_7 + 4.0 * 0.000_000_2;
        let transitions = 5.0 * 0.000_025;
        assert!((estimate.lambda_usd - lambda).abs() < 1e-12);
        assert!((estimate.step_functions_usd - transitions).abs() < 1e-12);
        assert!((estimate.total_usd - lambda - transitions).abs() < 1e-12);
    }

    #[test]
    fn config_prices_replace_the_list() {
        let prices = Prices::from_config(&PriceOverrides {
            state_transitions_per_thousand: Some(0.05),
            ..Default::default()
        });
        assert_eq!(prices.state_transition, 0.000_05);
        assert_eq!(prices.lambda_request, 0.000_000_2);
        assert!(
            prices.source.starts_with("kedro-sfn.yml"),
            "{}",
            prices.source
        );
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let mut states = serde_json::Map::new();
        let mut tasks = BTreeMap::new();
        for i in 0..20_000 {
            let next = (i + 1 < 20_000).then(|| format!("T{}", i + 1));
            states.insert(format!("T{i}"), task(next.as_deref()));
            tasks.insert(format!("T{i}"), run(1.0, 128));
        }
        let definition = json!({"StartAt": "T0", "States": states});
        let estimate = estimate(
            &definition,
            &tasks,
            &Prices::from_config(&Default::default()),
        );
        assert_eq!(estimate.run_time_s, 20_000.0);
        assert_eq!(estimate.longest_path.len(), 20_000);
    }
}
