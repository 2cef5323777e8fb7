//! A finished run, task by task: when each started and how long it took, and the chain of
//! tasks that set the run's length, as the run actually went.

use std::collections::{BTreeMap, BTreeSet};

use super::run_cost::seconds;

/// Task state -> the Task states it waits for, as the definition the run ran orders them.
pub type Waits = BTreeMap<String, BTreeSet<String>>;

/// One Task state of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpan {
    pub state: String,
    /// Seconds since the epoch.
    pub start_s: f64,
    /// `None`: it never ended (it failed, or the run stopped).
    pub end_s: Option<f64>,
}

/// A run's task spans with the order its definition gave them (`None`: not readable).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    pub spans: Vec<TaskSpan>,
    pub waits: Option<Waits>,
}

/// The lines of the timeline: one per task by start time, then the critical path.
pub fn render(spans: &[TaskSpan], waits: Option<&Waits>) -> Vec<String> {
    let mut sorted: Vec<&TaskSpan> = spans.iter().collect();
    sorted.sort_by(|a, b| {
        a.start_s
            .total_cmp(&b.start_s)
            .then_with(|| a.state.cmp(&b.state))
    });
    let Some(first) = sorted.first() else {
        return Vec::new();
    };
    let origin = first.start_s;
    let mut lines = vec![format!("  {:>9}  {:>9}  task", "start", "took")];
    for span in &sorted {
        let took = span
            .end_s
            .map_or("-".to_string(), |end| seconds(end - span.start_s));
        lines.push(format!(
            "  {:>9}  {:>9}  {}",
            format!("+{}", seconds(span.start_s - origin)),
            took,
            span.state
        ));
    }
    let path = critical_path(spans, waits);
    if let Some(last) = path.last() {
        let end = last.end_s.unwrap_or(last.start_s);
        let names: Vec<&str> = path.iter().map(|s| s.state.as_str()).collect();
        lines.push(format!(
            "  critical path ({}): {}",
            seconds(end - origin),
            names.join(" → ")
        ));
    }
    lines
}

/// The tasks that set the run's length: from the task that ended last, back through the
/// task it waited for that ended last (by `waits`, the definition's order; without it, any
/// task that ended before it started).
pub fn critical_path<'a>(spans: &'a [TaskSpan], waits: Option<&Waits>) -> Vec<&'a TaskSpan> {
    fn end(span: &TaskSpan) -> f64 {
        span.end_s.unwrap_or(f64::MIN)
    }
    let ended: Vec<&TaskSpan> = spans.iter().filter(|s| s.end_s.is_some()).collect();
    let mut path: Vec<&TaskSpan> = Vec::new();
    let mut current = ended
        .iter()
        .copied()
        .max_by(|a, b| end(a).total_cmp(&end(b)));
    while let Some(span) = current {
        path.push(span);
        if path.len() > spans.len() {
            break;
        }
        let waited_for = |other: &TaskSpan| match waits {
            Some(waits) => waits
                .get(&span.state)
                .is_some_and(|w| w.contains(&other.state)),
            None => end(other) <= span.start_s,
        };
        current = ended
            .iter()
            .copied()
            .filter(|other| waited_for(other))
            .max_by(|a, b| end(a).total_cmp(&end(b)));
    }
    path.reverse();
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(state: &str, start: f64, end: f64) -> TaskSpan {
        TaskSpan {
            state: state.into(),
            start_s: start,
            end_s: Some(end),
        }
    }

    #[test]
    fn the_critical_path_follows_what_each_task_waited_for() {
        // A then (B slow, C fast) then D.
        let spans = [
            span("A", 100.0, 102.0),
            span("B", 102.1, 112.0),
            span("C", 102.1, 104.0),
            span("D", 112.2, 113.0),
        ];
        let path: Vec<&str> = critical_path(&spans, None)
            .iter()
            .map(|s| s.state.as_str())
            .collect();
        assert_eq!(path, ["A", "B", "D"]);
        // The definition says D waits for C only (B's output is not D's input): the chain
        // D waited on is A, C, D, though B ended later.
        let waits: Waits = [("B", "A"), ("C", "A"), ("D", "C")]
            .into_iter()
            .map(|(task, before)| (task.to_string(), BTreeSet::from([before.to_string()])))
            .collect();
        let path: Vec<&str> = critical_path(&spans, Some(&waits))
            .iter()
            .map(|s| s.state.as_str())
            .collect();
        assert_eq!(path, ["A", "C", "D"]);
        let lines = render(&spans, None);
        assert_eq!(lines.len(), 6, "{lines:#?}");
        assert!(
            lines[1].contains("+0.00 s") && lines[1].ends_with("A"),
            "{lines:#?}"
        );
        assert!(
            lines[5].contains("critical path (13.0 s): A → B → D"),
            "{lines:#?}"
        );
    }

    #[test]
    fn a_task_that_never_ended_shows_no_duration() {
        let spans = [
            span("A", 0.0, 1.0),
            TaskSpan {
                state: "B".into(),
                start_s: 1.0,
                end_s: None,
            },
        ];
        let lines = render(&spans, None);
        assert!(
            lines[2].contains(" - ") && lines[2].ends_with("B"),
            "{lines:#?}"
        );
        assert!(render(&[], None).is_empty());
    }
}
