//! How long each task is expected to take: the config's `duration_s` where a user set one,
//! else what past executions of the deployed machine measured, else the default.
//!
//! Past runs are summarized by their median: half the runs were faster, half slower. A
//! mean would let one cold start or one retried invocation move the figure; a high
//! percentile would plan every task as if it had its worst day at once. The median of the
//! last few runs follows a task that got slower (more data) within a few runs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::settings::Setting;

/// Where a task's expected duration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DurationSource {
    /// `duration_s` in kedro-sfn.yml, for at least one of the task's nodes.
    Config,
    /// The median of the task's runs in past executions.
    History,
    /// Nothing said: the default per node.
    Default,
}

/// What past executions measured, per set of Kedro nodes run by one task (a task is known
/// by its nodes, not its state name, so a renamed state or a regrouped pipeline never
/// borrows another task's figures).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// The successful executions read.
    pub executions: usize,
    /// Sorted node names joined by newlines -> seconds per run.
    runs: BTreeMap<String, Vec<f64>>,
    /// Why the history is incomplete or absent (no permission, throttled, turned off).
    pub note: Option<String>,
    /// The definition the deployed machine's alias serves: its shape is kept while it is
    /// about as fast as a new one, so moving durations do not reshape it on every deploy.
    pub deployed_definition: Option<serde_json::Value>,
}

impl History {
    /// No history, and why.
    pub fn unavailable(note: impl Into<String>) -> History {
        History {
            note: Some(note.into()),
            ..History::default()
        }
    }

    /// Records one run of the task that ran `nodes`.
    pub fn record(&mut self, nodes: &[String], seconds: f64) {
        if seconds.is_finite() && seconds >= 0.0 {
            self.runs.entry(Self::key(nodes)).or_default().push(seconds);
        }
    }

    /// The median of the runs of the task that ran exactly `nodes`, and how many runs.
    pub fn median(&self, nodes: &[String]) -> Option<(f64, usize)> {
        if self.runs.is_empty() {
            return None; // no key to build: most plans have no history
        }
        let runs = self.runs.get(&Self::key(nodes))?;
        median(runs).map(|m| (m, runs.len()))
    }

    /// A task's identity: its nodes, sorted, joined by newlines (any order names the same
    /// task). Callers that index tasks by it match them as the history does.
    pub fn key(nodes: &[String]) -> String {
        let mut sorted: Vec<&str> = nodes.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.join("\n")
    }

    /// How many distinct tasks have runs.
    pub fn task_count(&self) -> usize {
        self.runs.len()
    }
}

/// The median; for an even count, the mean of the two middle values.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    })
}

/// A task's expected duration and where it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expected {
    pub seconds: f64,
    pub source: DurationSource,
    /// The runs behind a `history` figure.
    pub runs: usize,
}

/// The expected duration of a task running `nodes` with these configured durations: a configured
/// `duration_s` wins (the sum over the task's nodes), then the history, then the default.
pub fn expected(nodes: &[String], durations: &[&Setting<f64>], history: &History) -> Expected {
    let configured = durations
        .iter()
        .any(|d| d.origin != crate::config::settings::Origin::Default);
    let sum: f64 = durations.iter().map(|d| d.value).sum();
    if configured {
        return Expected {
            seconds: sum,
            source: DurationSource::Config,
            runs: 0,
        };
    }
    match history.median(nodes) {
        Some((seconds, runs)) => Expected {
            seconds,
            source: DurationSource::History,
            runs,
        },
        None => Expected {
            seconds: sum,
            source: DurationSource::Default,
            runs: 0,
        },
    }
}

/// The history with each Kedro node's configured duration: all it takes to say how long a
/// task of any nodes is expected to run, planned or deployed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskDurations {
    pub history: History,
    /// Kedro node -> its `duration_s` setting (origin `default` when none was set).
    pub nodes: BTreeMap<String, Setting<f64>>,
}

impl TaskDurations {
    /// The expected duration of a task running `nodes`; a node the pipeline no longer has
    /// counts with the default.
    pub fn expected(&self, nodes: &[String]) -> Expected {
        let default = Setting {
            value: crate::config::defaults::DURATION_S,
            origin: crate::config::settings::Origin::Default,
        };
        let settings: Vec<&Setting<f64>> = nodes
            .iter()
            .map(|n| self.nodes.get(n).unwrap_or(&default))
            .collect();
        expected(nodes, &settings, &self.history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A duration set by `nodes.<node>.duration_s`, or the default when `node` is `None`.
    fn setting(duration: f64, node: Option<&str>) -> Setting<f64> {
        let origin = match node {
            Some(node) => crate::config::settings::Origin::Node {
                node: node.into(),
                field: "duration_s",
            },
            None => crate::config::settings::Origin::Default,
        };
        Setting {
            value: duration,
            origin,
        }
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn the_median_ignores_one_slow_run() {
        assert_eq!(median(&[2.0, 3.0, 60.0]), Some(3.0));
        assert_eq!(median(&[2.0, 4.0]), Some(3.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn config_beats_history_beats_default() {
        let mut history = History::default();
        history.record(&names(&["b", "a"]), 10.0);
        history.record(&names(&["a", "b"]), 14.0);
        history.record(&names(&["a"]), 99.0);
        let default = setting(1.0, None);
        let set = setting(5.0, Some("a"));

        // The node set matches in any order; a task of `a` alone has its own figures.
        let from_history = expected(&names(&["a", "b"]), &[&default, &default], &history);
        assert_eq!(
            from_history,
            Expected {
                seconds: 12.0,
                source: DurationSource::History,
                runs: 2
            }
        );
        let configured = expected(&names(&["a", "b"]), &[&set, &default], &history);
        assert_eq!(configured.source, DurationSource::Config);
        assert_eq!(configured.seconds, 6.0);
        let new_task = expected(&names(&["c"]), &[&default], &history);
        assert_eq!(new_task.source, DurationSource::Default);
        assert_eq!(new_task.seconds, 1.0);
    }

    #[test]
    fn impossible_measurements_are_not_recorded() {
        let mut history = History::default();
        history.record(&names(&["a"]), f64::NAN);
        history.record(&names(&["a"]), -1.0);
        assert_eq!(history.median(&names(&["a"])), None);
    }
}
