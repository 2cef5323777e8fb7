//! The series-parallel tree a deployed definition runs, read back from its Task and
//! Parallel states: what the planner compares a new tree with, so that a redeploy after
//! durations moved a little keeps the deployed shape.

use crate::plan::definition::task_event::nodes_in_parameters;
use crate::plan::definition::view::{Machine, StateType};
use crate::plan::shape::sp_tree::{parallel, sequence, SpTree};

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
        m: Machine,
        task_of: &dyn Fn(&[String]) -> Option<usize>,
        seen: &mut [bool],
    ) -> Option<SpTree> {
        let mut current = m.start_at()?;
        let mut steps = Vec::new();
        for _ in 0..=m.len() {
            let state = m.state(current)?;
            match state.kind() {
                StateType::Task => {
                    let nodes = nodes_in_parameters(state.parameters()?)?;
                    let task = task_of(&nodes)?;
                    if std::mem::replace(seen.get_mut(task)?, true) {
                        return None;
                    }
                    steps.push(SpTree::Task(task));
                }
                StateType::Parallel => {
                    let branches = state
                        .branches()
                        .map(|branch| machine(branch, task_of, seen))
                        .collect::<Option<Vec<SpTree>>>()?;
                    steps.push(parallel(branches));
                }
                _ => return None,
            }
            match state.next() {
                Some(next) => current = next,
                None => return Some(sequence(steps)),
            }
        }
        None
    }
    let mut seen = vec![false; task_count];
    let tree = machine(Machine::new(definition), task_of, &mut seen)?;
    seen.iter().all(|&s| s).then_some(tree)
}
