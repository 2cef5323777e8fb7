//! The machine's tree -> a root state machine and child state machines, so that no
//! definition passes Step Functions' 1 MiB and no execution its 25,000 history events.
//!
//! A pipeline that fits keeps one machine. One that does not is cut below the root: every
//! subtree too large for one machine is opened, and its children that fit are packed, in
//! order, into child machines (a run of a Sequence's steps, or a group of a Parallel's
//! branches). The root keeps the structure above the cuts, one Task state per child that
//! starts it (`startExecution.sync:2`), and the small steps between them. A full child
//! ends at its last change of top-level namespace when that leaves it at least half full,
//! so cuts follow namespaces where they can.

use crate::plan::shape::sp_tree::SpTree;

/// The shape of one machine: the tree's leaves and structure, and where a child machine
/// is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Task(usize),
    /// Starts the child machine with this index.
    Child(usize),
    Sequence(Vec<Part>),
    /// The Parallel state's index among the tree's Parallel nodes in pre-order (its name);
    /// a group of its branches cut into a child keeps the name there.
    Parallel(usize, Vec<Part>),
}

impl Part {
    /// The whole tree as one machine's part.
    pub fn whole(tree: &SpTree) -> Part {
        fn convert(tree: &SpTree, next_parallel: &mut usize) -> Part {
            match tree {
                SpTree::Task(task) => Part::Task(*task),
                SpTree::Sequence(children) => {
                    Part::Sequence(children.iter().map(|c| convert(c, next_parallel)).collect())
                }
                SpTree::Parallel(children) => {
                    let index = *next_parallel;
                    *next_parallel += 1;
                    Part::Parallel(
                        index,
                        children.iter().map(|c| convert(c, next_parallel)).collect(),
                    )
                }
            }
        }
        convert(tree, &mut 0)
    }

    /// Every task of the part, in order (not those of the children it starts).
    pub fn tasks(&self) -> Vec<usize> {
        fn walk(part: &Part, out: &mut Vec<usize>) {
            match part {
                Part::Task(task) => out.push(*task),
                Part::Child(_) => {}
                Part::Sequence(children) | Part::Parallel(_, children) => {
                    children.iter().for_each(|c| walk(c, out))
                }
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }
}

/// What one task, and the machinery around tasks, costs a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cost {
    /// Bytes of compact JSON in the definition.
    pub bytes: usize,
    /// History events of one execution.
    pub events: usize,
}

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, other: Cost) -> Cost {
        Cost {
            bytes: self.bytes + other.bytes,
            events: self.events + other.events,
        }
    }
}

/// How large one machine may grow, with margins: for the version suffixes deploy adds,
/// and for retries (a retried Lambda task writes about 3 more events per attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub bytes: usize,
    pub events: usize,
}

impl Budget {
    fn admits(&self, cost: Cost) -> bool {
        cost.bytes <= self.bytes && cost.events <= self.events
    }
}

/// A Parallel state around its branches: its name, keys and one `StartAt`/`States` per
/// branch (an over-estimate; the name is counted at the longest a state name may be).
const PARALLEL_BYTES: usize = 160;
const BRANCH_BYTES: usize = 120;
/// ParallelStateEntered, Started, Succeeded, Exited.
const PARALLEL_EVENTS: usize = 4;

/// The machines: the root's part, and each child's (with the label its name is made from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub root: Part,
    pub children: Vec<ChildPart>,
}

/// One child machine's part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildPart {
    /// Its common top-level namespace, else its first task's label.
    pub label: String,
    pub part: Part,
}

/// What the splitter knows of each task.
pub struct TaskFacts<'a> {
    pub cost: &'a [Cost],
    /// The task's top-level namespace (`""` for none).
    pub namespace: &'a [&'a str],
    pub label: &'a [&'a str],
}

/// Cuts the tree where one machine would be too large; a tree within budget stays whole.
pub fn split(tree: &SpTree, facts: &TaskFacts, budget: Budget) -> Layout {
    let whole = Part::whole(tree);
    let mut splitter = Splitter {
        facts,
        budget,
        children: Vec::new(),
        inline: Cost::default(),
    };
    if budget.admits(splitter.cost(&whole)) {
        return Layout {
            root: whole,
            children: Vec::new(),
        };
    }
    let root = splitter.cut(whole);
    Layout {
        root,
        children: splitter.children,
    }
}

struct Splitter<'a> {
    facts: &'a TaskFacts<'a>,
    budget: Budget,
    children: Vec<ChildPart>,
    /// What the root holds itself.
    inline: Cost,
}

/// A group of steps smaller than 1/INLINE_SHARE of a machine stays in the root ...
const INLINE_SHARE: usize = 32;
/// ... while the root holds less than 1/ROOT_INLINE_SHARE of a machine of such groups.
const ROOT_INLINE_SHARE: usize = 4;

impl Splitter<'_> {
    fn cost(&self, part: &Part) -> Cost {
        match part {
            Part::Task(task) => self.facts.cost[*task],
            Part::Child(_) => Cost::default(),
            Part::Sequence(children) => children
                .iter()
                .map(|c| self.cost(c))
                .fold(Cost::default(), |a, b| a + b),
            Part::Parallel(_, children) => children.iter().map(|c| self.cost(c)).fold(
                Cost {
                    bytes: PARALLEL_BYTES + BRANCH_BYTES * children.len(),
                    events: PARALLEL_EVENTS,
                },
                |a, b| a + b,
            ),
        }
    }

    /// The one top-level namespace all of the part's tasks share.
    fn namespace(&self, part: &Part) -> Option<String> {
        let mut tasks = part.tasks().into_iter();
        let first = self.facts.namespace[tasks.next()?];
        tasks
            .all(|t| self.facts.namespace[t] == first)
            .then(|| first.to_string())
    }

    /// A part too large for one machine: the same structure, its children packed into
    /// child machines (or cut in turn when one alone is too large).
    fn cut(&mut self, part: Part) -> Part {
        let (parallel, steps) = match part {
            Part::Sequence(steps) => (None, steps),
            Part::Parallel(index, branches) => (Some(index), branches),
            // A single task always fits a machine.
            leaf => return self.child_of(leaf, None),
        };
        let mut out = Vec::new();
        let mut group: Vec<(Part, Cost)> = Vec::new();
        for step in steps {
            let cost = self.cost(&step);
            if !self.budget.admits(cost) {
                self.flush(std::mem::take(&mut group), parallel, &mut out);
                out.push(self.cut(step));
                continue;
            }
            let with_step = self.group_cost(&group, parallel) + cost;
            if !group.is_empty() && !self.budget.admits(with_step) {
                // Full: cut at the last namespace boundary when that leaves the child at
                // least half full, so a namespace stays in one child where it can.
                let keep = self.namespace_boundary(&group, parallel);
                let carried = group.split_off(keep.unwrap_or(group.len()));
                self.flush(std::mem::replace(&mut group, carried), parallel, &mut out);
            }
            group.push((step, cost));
        }
        self.flush(group, parallel, &mut out);
        match parallel {
            Some(index) => Part::Parallel(index, out),
            None => Part::Sequence(out),
        }
    }

    /// Where the group's last namespace run starts, if the steps before it fill at least
    /// half a machine.
    fn namespace_boundary(&self, group: &[(Part, Cost)], parallel: Option<usize>) -> Option<usize> {
        let namespaces: Vec<Option<String>> =
            group.iter().map(|(part, _)| self.namespace(part)).collect();
        let last = namespaces.last()?.as_ref()?;
        let start = namespaces
            .iter()
            .rposition(|n| n.as_ref() != Some(last))
            .map(|i| i + 1)?;
        let before = self.group_cost(&group[..start], parallel);
        (start > 0 && before.bytes * 2 >= self.budget.bytes).then_some(start)
    }

    fn group_cost(&self, group: &[(Part, Cost)], parallel: Option<usize>) -> Cost {
        let sum = group
            .iter()
            .fold(Cost::default(), |total, (_, cost)| total + *cost);
        self.grouped(sum, group.len(), parallel)
    }

    /// Makes the group one child machine, or, when it is small and the root has room,
    /// leaves it in the root (a child for a single small task is a start state for
    /// nothing).
    fn flush(&mut self, group: Vec<(Part, Cost)>, parallel: Option<usize>, out: &mut Vec<Part>) {
        if group.is_empty() {
            return;
        }
        let cost = self.group_cost(&group, parallel);
        let inline = self.inline + cost;
        if cost.bytes * INLINE_SHARE <= self.budget.bytes
            && cost.events * INLINE_SHARE <= self.budget.events
            && inline.bytes * ROOT_INLINE_SHARE <= self.budget.bytes
            && inline.events * ROOT_INLINE_SHARE <= self.budget.events
        {
            self.inline = inline;
            out.extend(group.into_iter().map(|(part, _)| part));
            return;
        }
        let mut parts: Vec<Part> = group.into_iter().map(|(part, _)| part).collect();
        let part = match (parts.len(), parallel) {
            (1, _) => parts.pop().unwrap_or(Part::Sequence(Vec::new())),
            (_, Some(index)) => Part::Parallel(index, parts),
            (_, None) => Part::Sequence(parts),
        };
        out.push(self.child_of(part, None));
    }

    /// A group's cost as a machine: a group of branches is wrapped in a Parallel.
    fn grouped(&self, cost: Cost, count: usize, parallel: Option<usize>) -> Cost {
        match parallel {
            Some(_) if count > 1 => Cost {
                bytes: cost.bytes + PARALLEL_BYTES + BRANCH_BYTES * count,
                events: cost.events + PARALLEL_EVENTS,
            },
            _ => cost,
        }
    }

    fn child_of(&mut self, part: Part, namespace: Option<String>) -> Part {
        let label = namespace
            .or_else(|| self.namespace(&part))
            .filter(|n| !n.is_empty())
            .or_else(|| self.namespace_span(&part))
            .unwrap_or_else(|| {
                part.tasks()
                    .first()
                    .map(|&t| self.facts.label[t].to_string())
                    .unwrap_or_default()
            });
        self.children.push(ChildPart { label, part });
        Part::Child(self.children.len() - 1)
    }

    /// `first-last` of the namespaces a part's tasks are in, when both have one.
    fn namespace_span(&self, part: &Part) -> Option<String> {
        let tasks = part.tasks();
        let first = self.facts.namespace[*tasks.first()?];
        let last = self.facts.namespace[*tasks.last()?];
        (!first.is_empty() && !last.is_empty()).then(|| format!("{first}-{last}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(
        cost: &'a [Cost],
        namespace: &'a [&'a str],
        label: &'a [&'a str],
    ) -> TaskFacts<'a> {
        TaskFacts {
            cost,
            namespace,
            label,
        }
    }

    const TASK: Cost = Cost {
        bytes: 1000,
        events: 5,
    };

    #[test]
    fn a_tree_within_budget_stays_one_machine() {
        let tree = SpTree::Sequence(vec![SpTree::Task(0), SpTree::Task(1)]);
        let cost = [TASK; 2];
        let layout = split(
            &tree,
            &facts(&cost, &["", ""], &["a", "b"]),
            Budget {
                bytes: 2000,
                events: 100,
            },
        );
        assert!(layout.children.is_empty());
        assert_eq!(layout.root, Part::whole(&tree));
    }

    #[test]
    fn a_long_sequence_is_packed_into_children_in_order() {
        let tree = SpTree::Sequence((0..10).map(SpTree::Task).collect());
        let cost = [TASK; 10];
        let labels: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
        let label: Vec<&str> = labels.iter().map(String::as_str).collect();
        let layout = split(
            &tree,
            &facts(&cost, &[""; 10], &label),
            Budget {
                bytes: 4000,
                events: 1000,
            },
        );
        assert_eq!(
            layout.root,
            Part::Sequence(vec![Part::Child(0), Part::Child(1), Part::Child(2)])
        );
        let sizes: Vec<usize> = layout
            .children
            .iter()
            .map(|c| c.part.tasks().len())
            .collect();
        assert_eq!(sizes, vec![4, 4, 2]);
        assert_eq!(layout.children[1].label, "t4");
    }

    #[test]
    fn a_wide_parallel_groups_branches_and_keeps_its_name() {
        let tree = SpTree::Parallel((0..6).map(SpTree::Task).collect());
        let cost = [TASK; 6];
        let layout = split(
            &tree,
            &facts(&cost, &[""; 6], &["a"; 6]),
            Budget {
                bytes: 3500,
                events: 1000,
            },
        );
        let Part::Parallel(0, branches) = &layout.root else {
            panic!("the root keeps the Parallel: {:?}", layout.root)
        };
        assert!(branches.iter().all(|b| matches!(b, Part::Child(_))));
        for child in &layout.children {
            assert!(matches!(child.part, Part::Parallel(0, _) | Part::Task(_)));
        }
        let total: usize = layout.children.iter().map(|c| c.part.tasks().len()).sum();
        assert_eq!(total, 6);
    }

    #[test]
    fn a_full_child_ends_where_a_namespace_ends() {
        let tree = SpTree::Sequence((0..7).map(SpTree::Task).collect());
        let cost = [TASK; 7];
        let namespace = ["a", "a", "a", "b", "b", "b", "b"];
        let layout = split(
            &tree,
            &facts(&cost, &namespace, &["x"; 7]),
            Budget {
                bytes: 6000,
                events: 1000,
            },
        );
        let labels: Vec<&str> = layout.children.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, vec!["a", "b"]);
        let sizes: Vec<usize> = layout
            .children
            .iter()
            .map(|c| c.part.tasks().len())
            .collect();
        assert_eq!(sizes, vec![3, 4]);
    }

    #[test]
    fn small_steps_between_children_stay_in_the_root() {
        let small = Cost {
            bytes: 10,
            events: 5,
        };
        let tree = SpTree::Sequence(vec![
            SpTree::Task(0),
            SpTree::Parallel((1..5).map(SpTree::Task).collect()),
            SpTree::Task(5),
        ]);
        let cost = [small, TASK, TASK, TASK, TASK, small];
        let layout = split(
            &tree,
            &facts(&cost, &[""; 6], &["x"; 6]),
            Budget {
                bytes: 2500,
                events: 1000,
            },
        );
        let Part::Sequence(steps) = &layout.root else {
            panic!("{:?}", layout.root)
        };
        assert_eq!(steps[0], Part::Task(0));
        assert_eq!(steps[2], Part::Task(5));
        assert!(
            matches!(&steps[1], Part::Parallel(0, branches) if branches.iter().all(|b| matches!(b, Part::Child(_))))
        );
    }

    #[test]
    fn the_event_budget_cuts_too() {
        let tree = SpTree::Sequence((0..10).map(SpTree::Task).collect());
        let cost = [TASK; 10];
        let layout = split(
            &tree,
            &facts(&cost, &[""; 10], &["x"; 10]),
            Budget {
                bytes: 1_000_000,
                events: 25,
            },
        );
        assert_eq!(layout.children.len(), 2);
    }
}
