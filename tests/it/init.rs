//! `kedro-sfn init` on the example project, with real Kedro: the env it writes puts every
//! dataset on S3 (factories and pickles included) and `check` passes for every grouping.

use crate::support;

use support::{copy_project, example_project, run_in_project};

#[test]
fn init_writes_an_env_that_passes_check_for_every_grouping() {
    let project = copy_project(&example_project());
    let dir = project.path();
    let (ok, stdout, stderr) = run_in_project(
        dir,
        &[
            "init",
            "--bucket",
            "s3://team-data/spaceflights/",
            "--env",
            "cloud",
            "--region",
            "eu-central-1",
        ],
    );
    assert!(ok, "init failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("wrote  conf/cloud/catalog.yml"), "{stdout}");
    // The example has its own kedro-sfn.yml: kept, not replaced.
    assert!(stdout.contains("kept   kedro-sfn.yml"), "{stdout}");
    assert!(
        stdout.contains("wrote  .github/workflows/kedro-sfn.yml"),
        "{stdout}"
    );
    // The raw inputs: one upload each, to the path the catalog now names.
    assert!(
        stdout.contains("aws s3 cp data/01_raw/companies.csv s3://team-data/spaceflights/data/01_raw/companies.csv"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("aws s3 cp ").count(), 3, "{stdout}");

    let catalog = std::fs::read_to_string(dir.join("conf/cloud/catalog.yml")).expect("written");
    let entries: serde_yaml::Value = serde_yaml::from_str(&catalog).expect("YAML");
    let entry = |name: &str| {
        entries
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in:\n{catalog}"))
    };
    assert_eq!(
        entry("companies")["type"].as_str(),
        Some("pandas.CSVDataset")
    );
    // A name a factory pattern matched gets the pattern's entry, resolved, options kept.
    let regressor = entry("active_modelling_pipeline.regressor");
    assert_eq!(regressor["type"].as_str(), Some("pickle.PickleDataset"));
    assert_eq!(regressor["versioned"].as_bool(), Some(true));
    assert_eq!(
        regressor["filepath"].as_str(),
        Some(
            "s3://team-data/spaceflights/data/06_models/active_modelling_pipeline/regressor.pickle"
        )
    );
    let workflow =
        std::fs::read_to_string(dir.join(".github/workflows/kedro-sfn.yml")).expect("written");
    assert!(workflow.contains("options: [cloud]") && workflow.contains("AWS_REGION: eu-central-1"));

    for group_by in ["none", "namespace", "memory"] {
        let (ok, stdout, stderr) =
            run_in_project(dir, &["check", "--env", "cloud", "--group-by", group_by]);
        assert!(
            ok,
            "check --group-by {group_by} after init:\n{stdout}\n{stderr}"
        );
        assert!(
            !stderr.contains("warning["),
            "no warning is left:\n{stderr}"
        );
    }

    // A second init refuses to replace the catalog, and writes nothing.
    std::fs::write(dir.join("conf/cloud/catalog.yml"), "# mine\n").expect("write");
    let (ok, _, stderr) = run_in_project(
        dir,
        &["init", "--bucket", "s3://team-data/x", "--env", "cloud"],
    );
    assert!(!ok);
    assert!(
        stderr.contains("conf/cloud/catalog.yml exists") && stderr.contains("--force"),
        "{stderr}"
    );
    let kept = std::fs::read_to_string(dir.join("conf/cloud/catalog.yml")).expect("kept");
    assert_eq!(kept, "# mine\n");
    let (ok, stdout, stderr) = run_in_project(
        dir,
        &[
            "init",
            "--bucket",
            "s3://team-data/x",
            "--env",
            "cloud",
            "--force",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("replaced conf/cloud/catalog.yml"),
        "{stdout}"
    );
}

#[test]
fn init_refuses_a_bad_bucket_and_the_base_env_before_reading_the_project() {
    let project = tempfile::tempdir().expect("tempdir");
    let (ok, _, stderr) = run_in_project(project.path(), &["init", "--bucket", "team-data"]);
    assert!(!ok);
    assert!(
        stderr.contains("is not an s3:// URL") && stderr.contains("s3://BUCKET/PREFIX"),
        "{stderr}"
    );
    let (ok, _, stderr) = run_in_project(
        project.path(),
        &["init", "--bucket", "s3://team-data", "--env", "base"],
    );
    assert!(!ok);
    assert!(
        stderr.contains("--env base is the env the catalog is copied from"),
        "{stderr}"
    );
}
