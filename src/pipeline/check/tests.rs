use super::*;

#[test]
fn near_misses_are_suggested() {
    let names = ["train_model_node", "split_data_node"];
    assert_eq!(
        closest("train_modle_node", names.iter().copied()),
        Some("train_model_node")
    );
    assert_eq!(closest("zzz", names.iter().copied()), None);
    let namespaced = ["ds.train_model_node"];
    assert_eq!(
        closest("train_model_node", namespaced.iter().copied()),
        Some("ds.train_model_node")
    );
}

#[test]
fn kedro_from_0_19_to_1_x_is_supported_and_the_rest_refused_naming_the_range() {
    for (version, supported) in [
        ("0.18.14", false),
        ("0.19.0", true),
        ("0.19.12", true),
        ("1.0.0", true),
        ("1.2.0rc1", true),
        ("1.7.0", true),
        ("2.0.0", false),
        ("unknown", false),
    ] {
        let mut doc = PipelineDoc::for_tests(vec![]);
        doc.project.kedro_version = version.into();
        let mut findings = Findings::default();
        check_kedro_version(&doc, &mut findings);
        assert_eq!(findings.problems.is_empty(), supported, "{version}");
        if let Some(problem) = findings.problems.first() {
            assert_eq!(problem.rule, Rule::KedroUnsupported);
            assert!(
                problem.message.contains(version) && problem.message.contains(KEDRO_SUPPORTED),
                "{}",
                problem.message
            );
        }
    }
}

#[test]
fn blank_names_and_control_characters_are_refused() {
    let dag = crate::synthetic::random_dag(3, 1, 1.0, &mut crate::synthetic::Rng::new(1));
    let names = ["   ", "ok_node", "evil\u{1b}[2J"];
    let doc = crate::synthetic::doc_from_dag(&dag, &|i| names[i].to_string());
    let findings = check_pipeline_exists(&doc);
    let refused: Vec<&str> = findings
        .problems
        .iter()
        .filter(|p| p.rule == Rule::InvalidNodeName)
        .map(|p| p.subject.as_str())
        .collect();
    assert_eq!(refused, ["   ", "evil\\u{1b}[2J"], "{findings:?}");
    assert!(findings.has_errors());
}

#[test]
fn a_schedule_param_no_node_reads_is_a_warning_naming_it() {
    let mut doc = crate::pipeline::PipelineDoc::for_tests(vec![]);
    let dag = crate::synthetic::random_dag(2, 1, 1.0, &mut crate::synthetic::Rng::new(1));
    let mut generated = crate::synthetic::doc_from_dag(&dag, &|i| format!("n{i}"));
    generated.nodes[0]
        .inputs
        .push("params:model_options".to_string());
    doc.nodes = generated.nodes;
    doc.datasets = generated.datasets;
    let config = Config {
        source: None,
        file: crate::config::parse_config(
            "schedules:\n  nightly:\n    expression: rate(1 day)\n    params: {model_options.test_size: 0.2, run_dat: x}\nschedule_role_arn: arn:aws:iam::123456789012:role/s\n",
            "kedro-sfn.yml",
        )
        .expect("config"),
    };
    let plan = crate::plan::plan(&doc, &config).expect("a warning does not stop the plan");
    let unknown: Vec<&str> = plan
        .findings
        .problems
        .iter()
        .filter(|p| p.rule == Rule::ConfigUnknownParam)
        .map(|p| p.subject.as_str())
        .collect();
    assert_eq!(unknown, ["schedules.nightly.params.run_dat"]);
}
