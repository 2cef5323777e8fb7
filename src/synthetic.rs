//! Synthetic pipelines for benchmarks and property tests: random DAGs, series-parallel DAGs
//! and modular (namespaced) pipelines, all from a seed, all with every dataset on s3:// so
//! each node is its own task unless asked otherwise.

use std::collections::BTreeMap;

use crate::pipeline::model::{Dataset, Node, PipelineDoc, ProjectInfo, PIPELINE_FORMAT};
use crate::plan::shape::dag::Dag;

/// A small, fast, seedable generator (SplitMix64): enough for test data, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, bound).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.unit() * bound as f64) as usize % bound.max(1)
    }

    /// Log-normal with the given parameters of the underlying normal (Box-Muller).
    pub fn log_normal(&mut self, mu: f64, sigma: f64) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        (mu + sigma * normal).exp()
    }
}

/// A random DAG: each task draws its inputs from up to `window` earlier tasks, each with
/// probability `density`, like a real pipeline's mostly local data flow.
pub fn random_dag(count: usize, window: usize, density: f64, rng: &mut Rng) -> Dag {
    let mut edges = Vec::new();
    for to in 1..count {
        for from in to.saturating_sub(window)..to {
            if rng.unit() < density {
                edges.push((from, to));
            }
        }
    }
    Dag::from_edges(count, edges)
}

/// A random series-parallel DAG of `count` tasks: built from a random tree of sequences and
/// parallels, with every sink of a step joined to every source of the next, plus some
/// redundant (transitive) edges that do not change its order.
pub fn series_parallel_dag(count: usize, rng: &mut Rng) -> Dag {
    let mut edges = Vec::new();
    let mut next = 0;
    build_sp(count.max(1), rng, &mut next, &mut edges);
    // Redundant edges: from a task to a descendant of one of its successors.
    let dag = Dag::from_edges(next, edges.iter().copied());
    let mut extra = Vec::new();
    for from in 0..next {
        if rng.unit() < 0.2 {
            if let Some(&mid) = dag.successors[from].first() {
                if let Some(&to) = dag.successors[mid].first() {
                    extra.push((from, to));
                }
            }
        }
    }
    edges.extend(extra);
    Dag::from_edges(next, edges)
}

/// Builds `count` tasks; returns (sources, sinks). Task indices are handed out so that every
/// edge goes forward.
fn build_sp(
    count: usize,
    rng: &mut Rng,
    next: &mut usize,
    edges: &mut Vec<(usize, usize)>,
) -> (Vec<usize>, Vec<usize>) {
    if count == 1 {
        let task = *next;
        *next += 1;
        return (vec![task], vec![task]);
    }
    let parts = 2 + rng.below(count.min(4) - 1);
    let mut sizes = vec![1usize; parts];
    for _ in parts..count {
        let i = rng.below(parts);
        sizes[i] += 1;
    }
    let series = rng.unit() < 0.5;
    let mut sources = Vec::new();
    let mut sinks: Vec<usize> = Vec::new();
    for (i, size) in sizes.into_iter().enumerate() {
        let (part_sources, part_sinks) = build_sp(size, rng, next, edges);
        if series {
            if i == 0 {
                sources = part_sources;
            } else {
                for &from in &sinks {
                    for &to in &part_sources {
                        edges.push((from, to));
                    }
                }
            }
            sinks = part_sinks;
        } else {
            sources.extend(part_sources);
            sinks.extend(part_sinks);
        }
    }
    (sources, sinks)
}

/// Modular pipelines like real projects: `namespaces` copies of a small diamond-shaped
/// pipeline of `per_namespace` nodes, fed by a shared ingest node and joined by a report.
pub fn modular_dag(namespaces: usize, per_namespace: usize, rng: &mut Rng) -> Dag {
    let mut edges = Vec::new();
    let ingest = 0;
    let mut next = 1;
    let mut tails = Vec::new();
    for _ in 0..namespaces {
        let sub = random_dag(per_namespace, 4, 0.5, rng);
        let offset = next;
        for (from, to) in sub.edges() {
            edges.push((from + offset, to + offset));
        }
        for task in 0..per_namespace {
            if sub.predecessors[task].is_empty() {
                edges.push((ingest, task + offset));
            }
            if sub.successors[task].is_empty() {
                tails.push(task + offset);
            }
        }
        next += per_namespace;
    }
    let report = next;
    for tail in tails {
        edges.push((tail, report));
    }
    Dag::from_edges(report + 1, edges)
}

/// A [`modular_dag`] as a pipeline of namespaced nodes: `ingest`, then
/// `ns_000.node_00001`… (each namespace's nodes), then `report`.
pub fn modular_doc(namespaces: usize, per_namespace: usize, rng: &mut Rng) -> PipelineDoc {
    let dag = modular_dag(namespaces, per_namespace, rng);
    let last = dag.len() - 1;
    doc_from_dag(&dag, &|i| match i {
        0 => "ingest".to_string(),
        i if i == last => "report".to_string(),
        i => format!("ns_{:03}.node_{i:05}", (i - 1) / per_namespace),
    })
}

/// A pipeline document whose node `i` writes `data_i` (on s3://) and reads the outputs of
/// its predecessors in `dag`.
pub fn doc_from_dag(dag: &Dag, name_of: &dyn Fn(usize) -> String) -> PipelineDoc {
    let mut nodes = Vec::with_capacity(dag.len());
    let mut datasets = BTreeMap::new();
    for task in 0..dag.len() {
        let output = format!("data_{task}");
        datasets.insert(
            output.clone(),
            Dataset {
                kind: "pandas.CSVDataset".into(),
                filepath: Some(format!("s3://bucket/{output}.csv")),
                versioned: false,
                default: false,
            },
        );
        let mut inputs: Vec<String> = dag.predecessors[task]
            .iter()
            .map(|p| format!("data_{p}"))
            .collect();
        inputs.push("params:alpha".into());
        nodes.push(Node {
            name: name_of(task),
            func: None,
            inputs,
            outputs: vec![output],
            tags: vec![],
            namespace: None,
        });
    }
    PipelineDoc {
        format: PIPELINE_FORMAT.into(),
        project: ProjectInfo {
            name: "synthetic".into(),
            package: "synthetic".into(),
            kedro_version: "1.7.0".into(),
        },
        env: Some("aws".into()),
        pipeline: "__default__".into(),
        pipelines: vec!["__default__".into()],
        nodes,
        datasets,
        credentials: BTreeMap::new(),
        registered_nodes: Vec::new(),
    }
}

/// What a successful deploy of `changes` leaves in AWS, as the change set reads it back:
/// for tests and benchmarks that plan a change against a deployed pipeline without AWS.
/// Child machines are read back as published at the change set's versions (a plan made
/// without `region` and `account_id` names them without an ARN, so plan with both to read
/// a split pipeline back unchanged); ECS task definitions are not modelled.
pub fn deployed_as_planned(
    plan: &crate::plan::Plan,
    changes: &crate::plan::changes::ChangeSet,
    target: &crate::plan::changes::Target,
) -> crate::plan::changes::Deployment {
    use crate::plan::changes::{function_record, DeployedFunction, DeployedMachine, Deployment};
    let versions: BTreeMap<&str, Option<u64>> = changes
        .functions
        .iter()
        .map(|f| (f.name.as_str(), f.version))
        .collect();
    let functions = plan
        .functions
        .iter()
        .map(|spec| {
            let function = DeployedFunction {
                name: spec.name.clone(),
                code_sha256: target
                    .image_uri
                    .as_deref()
                    .and_then(crate::plan::changes::image_digest)
                    .map(str::to_string),
                image_uri: target.image_uri.clone(),
                memory_mb: spec.memory_mb,
                timeout_s: spec.timeout_s,
                ephemeral_storage_mb: spec.ephemeral_storage_mb,
                architecture: spec.architecture.to_string(),
                environment: spec.environment.clone(),
                role_arn: target.lambda_role_arn.clone().unwrap_or_default(),
                record: Some(function_record(spec, plan, target)),
                // Read back for a function about to be deleted: its task is named there.
                tags: Some(crate::plan::changes::function_tags(spec, target)),
                latest_version: versions.get(spec.name.as_str()).copied().flatten(),
            };
            (spec.name.clone(), function)
        })
        .collect();
    let arn = format!(
        "arn:aws:states:eu-west-1:123456789012:stateMachine:{}",
        plan.state_machine.name
    );
    let children = changes
        .children
        .iter()
        .filter(|c| c.action != crate::plan::changes::ChildAction::Delete)
        .map(|child| {
            let arn = plan
                .children
                .iter()
                .find(|c| c.name == child.name)
                .and_then(|c| c.arn.clone())
                .unwrap_or_else(|| child.name.clone());
            let machine = DeployedMachine {
                alias_version_arn: child.version.map(|v| format!("{arn}:{v}")),
                arn,
                role_arn: target.machine_role_arn.clone().unwrap_or_default(),
                definition: child.definition.clone(),
                logging: target.logging.clone(),
                tracing: target.tracing,
                tags: BTreeMap::from([(
                    crate::plan::functions::OWNER_TAG.to_string(),
                    plan.state_machine.name.clone(),
                )]),
                served_since_ms: None,
            };
            (child.name.clone(), machine)
        })
        .collect();
    Deployment {
        operations: Default::default(),
        versions: Vec::new(),
        machine: Some(DeployedMachine {
            alias_version_arn: Some(format!("{arn}:1")),
            arn,
            role_arn: target.machine_role_arn.clone().unwrap_or_default(),
            definition: changes.definition.clone(),
            logging: target.logging.clone(),
            tracing: target.tracing,
            tags: BTreeMap::new(),
            served_since_ms: None,
        }),
        functions,
        task_definitions: BTreeMap::new(),
        children,
    }
}

/// The pipeline with one more node that nothing reads, reading the output of a node in the
/// middle: the smallest change a pull request makes.
pub fn with_leaf(doc: &PipelineDoc) -> PipelineDoc {
    let mut doc = doc.clone();
    let middle = &doc.nodes[doc.nodes.len() / 2];
    let input = middle.outputs[0].clone();
    doc.datasets.insert(
        "added_leaf_output".into(),
        Dataset {
            kind: "pandas.CSVDataset".into(),
            filepath: Some("s3://bucket/added_leaf_output.csv".into()),
            versioned: false,
            default: false,
        },
    );
    doc.nodes.push(Node {
        name: "added_leaf_node".into(),
        func: Some("pkg.nodes.added_leaf".into()),
        inputs: vec![input],
        outputs: vec!["added_leaf_output".into()],
        tags: Vec::new(),
        namespace: None,
    });
    doc
}

/// The pipeline without its last node whose outputs nothing reads; returns the node's name.
pub fn without_a_leaf(doc: &PipelineDoc) -> (PipelineDoc, String) {
    let mut doc = doc.clone();
    let read: std::collections::BTreeSet<&String> =
        doc.nodes.iter().flat_map(|n| &n.inputs).collect();
    let leaf = doc
        .nodes
        .iter()
        .rposition(|n| n.outputs.iter().all(|o| !read.contains(o)))
        .expect("a leaf");
    let removed = doc.nodes.remove(leaf);
    (doc, removed.name)
}

/// The pipeline with a node in its second half also reading an output of the first half that
/// it did not read; returns the node's name.
pub fn with_new_dependency(doc: &PipelineDoc) -> (PipelineDoc, String) {
    let mut doc = doc.clone();
    let reader = doc.nodes.len() * 3 / 4;
    let source = doc.nodes[..reader / 2]
        .iter()
        .flat_map(|n| n.outputs.iter())
        .find(|o| !doc.nodes[reader].inputs.contains(o))
        .expect("an output it does not read")
        .clone();
    doc.nodes[reader].inputs.push(source);
    let name = doc.nodes[reader].name.clone();
    (doc, name)
}

/// A plan compared with what a deploy of another plan left: what a pull request's comment
/// shows for a change.
pub struct PlannedChange {
    pub plan: crate::plan::Plan,
    pub changes: crate::plan::changes::ChangeSet,
    /// What changes in each changed Task state.
    pub task_diff: String,
    /// What the first deploy left in AWS.
    pub deployment: crate::plan::changes::Deployment,
}

/// Plans `after` with `config` against what deploying `before` (with `deployed_with`) left;
/// `before` empty of nodes is a first deploy.
pub fn planned_change(
    before: &PipelineDoc,
    deployed_with: &crate::config::Config,
    after: &PipelineDoc,
    config: &crate::config::Config,
    target: &crate::plan::changes::Target,
) -> Result<PlannedChange, crate::plan::PlanError> {
    use crate::plan::changes::{changes, Deployment};
    let deployment = if before.nodes.is_empty() {
        Deployment::default()
    } else {
        let first = crate::plan::plan(before, deployed_with)?;
        let applied = changes(&first, &Deployment::default(), target);
        deployed_as_planned(&first, &applied, target)
    };
    let plan = crate::plan::plan(after, config)?;
    let changes = changes(&plan, &deployment, target);
    let task_diff =
        crate::report::diff::task_diff(deployment.whole_definition().as_ref(), &changes.definition);
    Ok(PlannedChange {
        plan,
        changes,
        task_diff,
        deployment,
    })
}
