//! A typed view of the definitions the code reads back (planned, deployed, or the one an
//! execution ran): the readers walk states, types, branches and transitions through this one
//! place instead of indexing `"States"` and `"Type"` themselves; the writers that pin
//! versions walk every state through [`for_each_state_mut`].

use serde_json::{Map, Value};

/// The kinds of state a definition holds (Amazon States Language's `Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateType {
    Task,
    Parallel,
    Fail,
    Succeed,
    Pass,
    Choice,
    Wait,
    Map,
    /// No `Type`, or one this build does not know.
    Unknown,
}

impl StateType {
    fn of(state: &Value) -> StateType {
        match state.get("Type").and_then(Value::as_str) {
            Some("Task") => StateType::Task,
            Some("Parallel") => StateType::Parallel,
            Some("Fail") => StateType::Fail,
            Some("Succeed") => StateType::Succeed,
            Some("Pass") => StateType::Pass,
            Some("Choice") => StateType::Choice,
            Some("Wait") => StateType::Wait,
            Some("Map") => StateType::Map,
            _ => StateType::Unknown,
        }
    }
}

/// A definition, or one branch of a Parallel state: `StartAt` and `States`.
#[derive(Debug, Clone, Copy)]
pub struct Machine<'a>(&'a Value);

impl<'a> Machine<'a> {
    pub fn new(definition: &'a Value) -> Self {
        Machine(definition)
    }

    /// The first state's name.
    pub fn start_at(self) -> Option<&'a str> {
        self.0.get("StartAt").and_then(Value::as_str)
    }

    /// Its own states (not its branches'), in the order the definition lists them.
    pub fn states(self) -> impl Iterator<Item = State<'a>> {
        self.0
            .get("States")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(name, value)| State { name, value })
    }

    /// How many states it holds itself.
    pub fn len(self) -> usize {
        self.0
            .get("States")
            .and_then(Value::as_object)
            .map_or(0, Map::len)
    }

    /// Whether it holds no state.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    pub fn state(self, name: &str) -> Option<State<'a>> {
        let (name, value) = self
            .0
            .get("States")
            .and_then(Value::as_object)?
            .get_key_value(name)?;
        Some(State { name, value })
    }

    /// The states an execution passes through, from `StartAt` along `Next`; stops at a
    /// state without `Next`, a name that is not there, or a loop (each state once at most).
    pub fn path(self) -> Vec<State<'a>> {
        let mut path = Vec::new();
        let mut current = self.start_at();
        while let Some(state) = current.and_then(|name| self.state(name)) {
            if path.len() > self.len() {
                break;
            }
            current = state.next();
            path.push(state);
        }
        path
    }

    /// Its states and all its branches' states, depth first, in the order listed.
    pub fn all_states(self) -> Vec<State<'a>> {
        fn walk<'a>(machine: Machine<'a>, out: &mut Vec<State<'a>>) {
            for state in machine.states() {
                out.push(state);
                for branch in state.branches() {
                    walk(branch, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }
}

/// One state, with its name.
#[derive(Debug, Clone, Copy)]
pub struct State<'a> {
    pub name: &'a str,
    value: &'a Value,
}

impl<'a> State<'a> {
    pub fn kind(self) -> StateType {
        StateType::of(self.value)
    }

    pub fn next(self) -> Option<&'a str> {
        self.value.get("Next").and_then(Value::as_str)
    }

    /// A Parallel state's branches (none for any other state).
    pub fn branches(self) -> impl Iterator<Item = Machine<'a>> {
        self.value
            .get("Branches")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(Machine)
    }

    pub fn parameters(self) -> Option<&'a Value> {
        self.value.get("Parameters")
    }

    /// A Task state's service integration (`arn:aws:states:::lambda:invoke`, ...).
    pub fn resource(self) -> Option<&'a str> {
        self.value.get("Resource").and_then(Value::as_str)
    }

    /// The field at a JSON pointer (`/Parameters/FunctionName`) when it is a string.
    pub fn text_at(self, pointer: &str) -> Option<&'a str> {
        self.value.pointer(pointer).and_then(Value::as_str)
    }

    /// The state as JSON, for the readers that compare whole states.
    pub fn json(self) -> &'a Value {
        self.value
    }
}

/// Calls `f` on every state of a definition, inside Parallel branches too (after `f` has
/// seen the Parallel state itself, so a state `f` replaces is walked as replaced).
pub fn for_each_state_mut(machine: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    let Some(states) = machine.get_mut("States").and_then(Value::as_object_mut) else {
        return;
    };
    for state in states.values_mut() {
        f(state);
        if let Some(branches) = state.get_mut("Branches").and_then(Value::as_array_mut) {
            for branch in branches {
                for_each_state_mut(branch, f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definition() -> Value {
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Next": "c", "Branches": [
                {"StartAt": "a", "States": {"a": {"Type": "Task", "Resource": "r"}, "a failed": {"Type": "Fail"}}},
                {"StartAt": "b", "States": {"b": {"Type": "Task", "Parameters": {"FunctionName": "fb"}}}}]},
            "c": {"Type": "Task", "End": true},
            "c failed": {"Type": "Fail"}
        }})
    }

    #[test]
    fn the_path_follows_next_and_all_states_go_into_branches_in_order() {
        let definition = definition();
        let machine = Machine::new(&definition);
        let path: Vec<&str> = machine.path().iter().map(|s| s.name).collect();
        assert_eq!(path, ["P", "c"]);
        let all: Vec<(&str, StateType)> = machine
            .all_states()
            .iter()
            .map(|s| (s.name, s.kind()))
            .collect();
        assert_eq!(
            all,
            [
                ("P", StateType::Parallel),
                ("a", StateType::Task),
                ("a failed", StateType::Fail),
                ("b", StateType::Task),
                ("c", StateType::Task),
                ("c failed", StateType::Fail),
            ]
        );
        let b = machine.all_states()[3];
        assert_eq!(b.text_at("/Parameters/FunctionName"), Some("fb"));
        assert_eq!(machine.all_states()[1].resource(), Some("r"));
    }

    #[test]
    fn a_loop_or_a_missing_state_ends_the_path() {
        let looped = json!({"StartAt": "a", "States": {
            "a": {"Type": "Pass", "Next": "b"}, "b": {"Type": "Pass", "Next": "a"}}});
        assert!(Machine::new(&looped).path().len() <= 3);
        let missing = json!({"StartAt": "a", "States": {"a": {"Type": "Pass", "Next": "gone"}}});
        assert_eq!(Machine::new(&missing).path().len(), 1);
        assert!(Machine::new(&json!(null)).path().is_empty());
        assert_eq!(
            Machine::new(&json!({"States": {"x": {}}})).all_states()[0].kind(),
            StateType::Unknown
        );
    }

    #[test]
    fn the_mutable_walk_reaches_every_state_once() {
        let mut definition = definition();
        let mut seen = 0;
        for_each_state_mut(&mut definition, &mut |state| {
            seen += 1;
            state["Seen"] = json!(true);
        });
        assert_eq!(seen, 6);
        assert_eq!(
            definition["States"]["P"]["Branches"][1]["States"]["b"]["Seen"],
            true
        );
    }
}
