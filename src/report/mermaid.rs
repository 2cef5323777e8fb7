//! The state machine as a Mermaid flowchart (GitHub renders it): Parallel states are
//! subgraphs holding their branches, sequences are arrows.

use std::fmt::Write;

use crate::plan::shape::sp_tree::SpTree;

use super::escape::mermaid_label;

/// Past this many tasks the picture stops being readable (and GitHub stops rendering it).
pub const MAX_TASKS_DRAWN: usize = 40;

/// Past this many tasks, a comment's picture is drawn one box per group of tasks: at a
/// comment's width (about 880 px) a flowchart of 60 tasks already shrinks its text to a few
/// pixels (measured with mermaid-cli 11).
pub const SUMMARY_ABOVE: usize = 60;

/// Up to this many tasks, a comment draws the whole machine, Parallel states as boxes in
/// boxes. Measured with mermaid-cli 11 on random pipelines at the comment's 830 px: the
/// text stays 16 px, but the picture is 1,168 px tall at 10 tasks, 1,430 at 15, 2,246 at
/// 20 and 3,199 at 30 (`KEDRO_SFN_SIZES=10,15,20,30 cargo bench --bench comment -- --write
/// DIR`, then mmdc): past 15, more than one and a half screens.
pub const WHOLE_DRAWN_UP_TO: usize = 15;

/// A change's picture draws at most this many tasks (the changed ones and their
/// neighbours); past it, one box per group.
pub const NEIGHBOURHOOD_MAX: usize = 24;

/// Up to this many tasks outside any namespace are drawn one box each in a summary.
const LOOSE_TASKS_DRAWN: usize = 5;

/// What a summary box says of the tasks in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Added,
    Changed,
    Same,
}

/// The state machine drawn one box per group of tasks, for a pipeline too large to draw
/// task by task: per top-level namespace of the tasks' nodes, else per element of the
/// machine's outermost sequence. Each box says how many tasks it holds and which of them
/// are added or changed (up to three named); arrows follow the dependencies between groups.
/// Returns the flowchart and the box id of each group that has added or changed tasks, by
/// whether all of them are added.
pub fn summary_flowchart(
    plan: &crate::plan::Plan,
    marks: &[Mark],
) -> (String, Vec<(String, Mark)>) {
    let (group_of, names) = groups(plan);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
    for (task, &group) in group_of.iter().enumerate() {
        members[group].push(task);
    }
    let mut edges = std::collections::BTreeSet::new();
    for &(from, to) in &plan.dependencies {
        let (a, b) = (group_of[from], group_of[to]);
        if a != b {
            edges.insert((a, b));
        }
    }
    let edges = without_implied(edges);
    let mut out = format!("flowchart {}\n", direction(plan, &group_of, names.len()));
    let mut marked = Vec::new();
    let mut boxes: Vec<String> = Vec::with_capacity(members.len());
    for (group, tasks) in members.iter().enumerate() {
        let of = |mark: Mark| -> Vec<&str> {
            tasks
                .iter()
                .filter(|&&t| marks.get(t) == Some(&mark))
                .map(|&t| plan.tasks[t].state.as_str())
                .collect()
        };
        let (added, changed) = (of(Mark::Added), of(Mark::Changed));
        // One fact per line keeps the boxes narrow (Mermaid does not wrap quoted labels).
        let mut lines = vec![mermaid_label(&format!(
            "{}: {}",
            names[group],
            super::review::counted(tasks.len(), "task", "tasks")
        ))];
        if added.len() == tasks.len() {
            // A new group: its name says it all.
            lines.push("all added".to_string());
        }
        for (word, list) in [("added", &added), ("changed", &changed)] {
            let all_added = word == "added" && list.len() == tasks.len();
            if !list.is_empty() && !all_added {
                lines.push(format!("{} {word}:", list.len()));
                lines.extend(list.iter().take(3).map(|name| mermaid_label(name)));
                let more = list.len().saturating_sub(3);
                if more > 0 {
                    lines.push(format!("+{more} more"));
                }
            }
        }
        boxes.push(format!("  g{group}[\"{}\"]\n", lines.join("<br>")));
        if added.len() == tasks.len() {
            marked.push((format!("g{group}"), Mark::Added));
        } else if !added.is_empty() || !changed.is_empty() {
            marked.push((format!("g{group}"), Mark::Changed));
        }
    }
    // A split pipeline: each child machine a box around its groups (a group cut between
    // two children stays outside).
    let child_of_task = child_of_task(plan);
    let mut in_child: Vec<Option<usize>> = vec![None; members.len()];
    for (group, tasks) in members.iter().enumerate() {
        let mut children = tasks.iter().map(|&t| child_of_task[t]);
        let first = children.next().flatten();
        if children.all(|c| c == first) {
            in_child[group] = first;
        }
    }
    for (child, machine) in plan.children.iter().enumerate() {
        let inside: Vec<usize> = (0..members.len())
            .filter(|&g| in_child[g] == Some(child))
            .collect();
        if inside.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "  subgraph c{child}[\"{}\"]",
            mermaid_label(&format!("state machine {}", machine.name))
        );
        for group in inside {
            out.push_str(&boxes[group]);
        }
        out.push_str("  end\n");
    }
    for (group, line) in boxes.iter().enumerate() {
        if in_child[group].is_none() {
            out.push_str(line);
        }
    }
    for (a, b) in edges {
        let _ = writeln!(out, "  g{a} --> g{b}");
    }
    (out, marked)
}

/// The arrows no other path already implies: an arrow from `a` to `b` goes when `b` is
/// reachable from `a` without it. Removed one at a time, so what reaches what is kept even
/// where groups depend on each other both ways.
fn without_implied(
    edges: std::collections::BTreeSet<(usize, usize)>,
) -> std::collections::BTreeSet<(usize, usize)> {
    let mut kept = edges.clone();
    for edge in edges {
        kept.remove(&edge);
        let (from, to) = edge;
        let mut seen = std::collections::BTreeSet::from([from]);
        let mut stack = vec![from];
        let mut reached = false;
        while let Some(at) = stack.pop() {
            for &(_, next) in kept.range((at, 0)..=(at, usize::MAX)) {
                if next == to {
                    reached = true;
                    break;
                }
                if seen.insert(next) {
                    stack.push(next);
                }
            }
            if reached {
                break;
            }
        }
        if !reached {
            kept.insert(edge);
        }
    }
    kept
}

/// A change drawn by the tasks it touches.
pub struct Neighbourhood {
    pub chart: String,
    /// The box id of each added or changed task, with its mark.
    pub marked: Vec<(String, Mark)>,
    /// How many unchanged tasks are drawn beside the changed ones.
    pub neighbours: usize,
}

/// The tasks in `focus` (added or changed) and the tasks they read from or that read from
/// them, with arrows for those dependencies: what a reviewer needs to see of a change to a
/// large pipeline. `None` when the focus alone is more than [`NEIGHBOURHOOD_MAX`] tasks.
pub fn neighbourhood_flowchart(
    plan: &crate::plan::Plan,
    focus: &std::collections::BTreeSet<usize>,
    marks: &[Mark],
    new_edges: &std::collections::BTreeSet<(usize, usize)>,
) -> Option<Neighbourhood> {
    if focus.len() > NEIGHBOURHOOD_MAX {
        return None;
    }
    let mut beside = std::collections::BTreeSet::new();
    for &(from, to) in &plan.dependencies {
        if focus.contains(&from) && !focus.contains(&to) {
            beside.insert(to);
        }
        if focus.contains(&to) && !focus.contains(&from) {
            beside.insert(from);
        }
    }
    let room = NEIGHBOURHOOD_MAX - focus.len();
    let beside: std::collections::BTreeSet<usize> = beside.into_iter().take(room).collect();
    let drawn: std::collections::BTreeSet<usize> = focus.union(&beside).copied().collect();
    let labels = task_labels(plan);
    let mut chart = String::from("flowchart TD\n");
    for &task in &drawn {
        let _ = writeln!(chart, "  t{task}[\"{}\"]", mermaid_label(&labels[task]));
    }
    let mut drawn_edges = 0;
    let mut highlighted = Vec::new();
    for &(from, to) in &plan.dependencies {
        if drawn.contains(&from) && drawn.contains(&to) {
            let _ = writeln!(chart, "  t{from} --> t{to}");
            if new_edges.contains(&(from, to)) {
                highlighted.push(drawn_edges.to_string());
            }
            drawn_edges += 1;
        }
    }
    // A dependency that is new: the arrow drawn thick, in the changed tasks' amber.
    if !highlighted.is_empty() {
        let _ = writeln!(
            chart,
            "  linkStyle {} stroke:#bf8700,stroke-width:3px",
            highlighted.join(",")
        );
    }
    let marked = focus
        .iter()
        .map(|&t| (format!("t{t}"), marks.get(t).copied().unwrap_or(Mark::Same)))
        .collect();
    Some(Neighbourhood {
        chart,
        marked,
        neighbours: beside.len(),
    })
}

/// Each task's child machine (`None`: in the root).
fn child_of_task(plan: &crate::plan::Plan) -> Vec<Option<usize>> {
    let index: std::collections::HashMap<&str, usize> = plan
        .tasks
        .iter()
        .enumerate()
        .map(|(t, task)| (task.state.as_str(), t))
        .collect();
    let mut child_of = vec![None; plan.tasks.len()];
    for (child, machine) in plan.children.iter().enumerate() {
        for state in &machine.tasks {
            if let Some(&task) = index.get(state.as_str()) {
                child_of[task] = Some(child);
            }
        }
    }
    child_of
}

/// `TD` when the groups form more ranks than the widest rank holds, else `LR`: a picture is
/// scaled down to the comment's width, so the boxes side by side (a rank's, top-down; the
/// ranks', left to right) should be the fewer. A group's rank is the earliest step of the
/// pipeline its tasks start in (Kedro's layers; defined even when groups depend on each other both ways).
fn direction(plan: &crate::plan::Plan, group_of: &[usize], groups: usize) -> &'static str {
    let dag = crate::plan::shape::dag::Dag::from_edges(
        plan.tasks.len(),
        plan.dependencies.iter().copied(),
    );
    let mut step = vec![0usize; plan.tasks.len()];
    for (layer, tasks) in dag.layers().iter().enumerate() {
        for &task in tasks {
            step[task] = layer;
        }
    }
    let mut rank = vec![usize::MAX; groups];
    for (task, &group) in group_of.iter().enumerate() {
        rank[group] = rank[group].min(step[task]);
    }
    let mut per_rank = std::collections::BTreeMap::new();
    for r in rank {
        *per_rank.entry(r).or_insert(0usize) += 1;
    }
    let widest = per_rank.values().copied().max().unwrap_or(0);
    if widest > per_rank.len() {
        "LR"
    } else {
        "TD"
    }
}

/// The group of each task, and the groups' names: the top-level namespace of the task's
/// first node when the tasks have more than one, else the element of the outermost
/// sequence it runs in.
fn groups(plan: &crate::plan::Plan) -> (Vec<usize>, Vec<String>) {
    let namespace = |task: &crate::plan::PlannedTask| -> String {
        task.nodes
            .first()
            .and_then(|n| n.split_once('.'))
            .map_or_else(String::new, |(ns, _)| ns.to_string())
    };
    let spaces: std::collections::BTreeSet<String> = plan.tasks.iter().map(namespace).collect();
    if spaces.len() > 1 {
        // A few tasks outside any namespace (an ingest, a report) get a box each, so the
        // arrows still say what runs first and last.
        let loose = plan
            .tasks
            .iter()
            .filter(|t| namespace(t).is_empty())
            .count();
        let key = |task: &crate::plan::PlannedTask| match namespace(task) {
            ns if ns.is_empty() && loose <= LOOSE_TASKS_DRAWN => task.state.clone(),
            ns if ns.is_empty() => "(no namespace)".to_string(),
            ns => ns,
        };
        let keys: std::collections::BTreeSet<String> = plan.tasks.iter().map(key).collect();
        let index: std::collections::BTreeMap<&String, usize> =
            keys.iter().enumerate().map(|(i, s)| (s, i)).collect();
        let group_of = plan.tasks.iter().map(|t| index[&key(t)]).collect();
        return (group_of, keys.into_iter().collect());
    }
    let mut group_of = vec![0; plan.tasks.len()];
    let steps: Vec<&SpTree> = match &plan.tree {
        SpTree::Sequence(children) => children.iter().collect(),
        other => vec![other],
    };
    if steps.len() < MIN_GROUPS {
        return layer_bands(plan);
    }
    for (step, tree) in steps.iter().enumerate() {
        for task in tasks_in(tree) {
            if let Some(slot) = group_of.get_mut(task) {
                *slot = step;
            }
        }
    }
    let names = (1..=steps.len())
        .map(|step| format!("step {step}"))
        .collect();
    (group_of, names)
}

/// Fewer groups than this say nothing of a pipeline's shape: it is drawn in bands of its
/// Kedro layers instead.
const MIN_GROUPS: usize = 3;
/// At most this many bands.
const BANDS: usize = 6;

/// Each task's band of consecutive Kedro layers (the steps in which its nodes could first
/// run), at most [`BANDS`] of them: for a pipeline that is one Parallel state outermost,
/// where the machine's own sequence gives no groups.
fn layer_bands(plan: &crate::plan::Plan) -> (Vec<usize>, Vec<String>) {
    let dag = crate::plan::shape::dag::Dag::from_edges(
        plan.tasks.len(),
        plan.dependencies.iter().copied(),
    );
    let layers = dag.layers();
    let bands = layers.len().clamp(1, BANDS);
    let band_of_layer = |layer: usize| layer * bands / layers.len().max(1);
    let mut group_of = vec![0; plan.tasks.len()];
    for (layer, tasks) in layers.iter().enumerate() {
        for &task in tasks {
            group_of[task] = band_of_layer(layer);
        }
    }
    let names = (0..bands)
        .map(|band| {
            let in_band: Vec<usize> = (0..layers.len())
                .filter(|&l| band_of_layer(l) == band)
                .collect();
            match (in_band.first(), in_band.last()) {
                (Some(first), Some(last)) if first != last => {
                    format!("steps {}–{}", first + 1, last + 1)
                }
                (Some(first), _) => format!("step {}", first + 1),
                _ => format!("band {}", band + 1),
            }
        })
        .collect();
    (group_of, names)
}

fn tasks_in(tree: &SpTree) -> Vec<usize> {
    match tree {
        SpTree::Task(task) => vec![*task],
        SpTree::Sequence(children) | SpTree::Parallel(children) => {
            children.iter().flat_map(tasks_in).collect()
        }
    }
}

/// The text of each task's box: its state name, and how many nodes it runs when several.
pub fn task_labels(plan: &crate::plan::Plan) -> Vec<String> {
    plan.tasks
        .iter()
        .map(|t| {
            let label = match t.nodes.len() {
                1 => t.state.clone(),
                n => format!("{} ({n} nodes)", t.state),
            };
            match t.runner {
                crate::config::Runner::Lambda => label,
                crate::config::Runner::Ecs => format!("{label} · ECS"),
            }
        })
        .collect()
}

/// Draws the tree; `labels[task]` is the text of each task's box.
pub fn flowchart(tree: &SpTree, labels: &[String]) -> String {
    let mut drawing = Drawing {
        labels,
        body: String::new(),
        edges: Vec::new(),
        next_subgraph: 0,
    };
    let (entry, exit) = drawing.draw(tree, 1);
    let mut out = String::from("flowchart TD\n");
    out.push_str("  start([Start])\n");
    out.push_str(&drawing.body);
    out.push_str("  finish([End])\n");
    let _ = writeln!(out, "  start --> {entry}");
    for (from, to) in &drawing.edges {
        let _ = writeln!(out, "  {from} --> {to}");
    }
    let _ = writeln!(out, "  {exit} --> finish");
    out
}

struct Drawing<'a> {
    labels: &'a [String],
    body: String,
    edges: Vec<(String, String)>,
    next_subgraph: usize,
}

impl Drawing<'_> {
    /// Declares the subtree's boxes at `depth` and returns its entry and exit ids.
    fn draw(&mut self, tree: &SpTree, depth: usize) -> (String, String) {
        let indent = "  ".repeat(depth);
        match tree {
            SpTree::Task(task) => {
                let id = format!("t{task}");
                let label = self.labels.get(*task).map(String::as_str).unwrap_or("?");
                let _ = writeln!(self.body, "{indent}{id}[\"{}\"]", mermaid_label(label));
                (id.clone(), id)
            }
            SpTree::Sequence(children) => {
                let mut ends: Vec<(String, String)> = Vec::new();
                for child in children {
                    ends.push(self.draw(child, depth));
                }
                for pair in ends.windows(2) {
                    self.edges.push((pair[0].1.clone(), pair[1].0.clone()));
                }
                let entry = ends.first().map(|e| e.0.clone()).unwrap_or_default();
                let exit = ends.last().map(|e| e.1.clone()).unwrap_or_default();
                (entry, exit)
            }
            SpTree::Parallel(children) => {
                let id = format!("p{}", self.next_subgraph);
                self.next_subgraph += 1;
                let _ = writeln!(self.body, "{indent}subgraph {id}[\"parallel\"]");
                let _ = writeln!(self.body, "{indent}  direction TB");
                for child in children {
                    self.draw(child, depth + 1);
                }
                let _ = writeln!(self.body, "{indent}end");
                (id.clone(), id)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{doc_from_dag, modular_dag, Rng};

    #[test]
    fn a_large_modular_pipeline_is_drawn_one_box_per_namespace() {
        let (namespaces, per) = (8, 20);
        let dag = modular_dag(namespaces, per, &mut Rng::new(3));
        let last = dag.len() - 1;
        let doc = doc_from_dag(&dag, &|i| match i {
            0 => "ingest".into(),
            i if i == last => "report".into(),
            i => format!("ns{}.node_{i}", (i - 1) / per),
        });
        let plan = crate::plan::draft(&doc, &crate::config::Config::default()).expect("plans");
        assert!(plan.tasks.len() > MAX_TASKS_DRAWN);
        let mut marks = vec![Mark::Same; plan.tasks.len()];
        let changed = plan
            .tasks
            .iter()
            .position(|t| t.state.starts_with("ns3."))
            .expect("a task of ns3");
        marks[changed] = Mark::Changed;
        let (chart, marked) = summary_flowchart(&plan, &marks);
        let boxes: Vec<&str> = chart.lines().filter(|l| l.contains("[\"")).collect();
        // One box per namespace, and one each for the ingest and the report.
        assert_eq!(boxes.len(), namespaces + 2, "{chart}");
        assert!(
            chart.contains("ns3: 20 tasks<br>1 changed:<br>ns3."),
            "{chart}"
        );
        // Eight namespaces side by side, three ranks (ingest, namespaces, report): the
        // ranks go left to right, so the namespaces stack.
        assert!(chart.starts_with("flowchart LR\n"), "{chart}");
        assert_eq!(marked.len(), 1);
        // Every arrow joins declared boxes; no box points at itself.
        let declared: Vec<&str> = boxes
            .iter()
            .map(|l| l.trim().split('[').next().unwrap_or_default())
            .collect();
        for line in chart.lines().filter(|l| l.contains("-->")) {
            let (a, b) = line.trim().split_once(" --> ").expect("an arrow");
            assert!(
                declared.contains(&a) && declared.contains(&b) && a != b,
                "{line}"
            );
        }
        assert!(chart.lines().filter(|l| l.contains("-->")).count() >= namespaces * 2);
    }
}
