//! The step's outputs, as action.yml declares them: one field each, so that a name cannot
//! be misspelled where a value is set and every value has one type.

use std::collections::BTreeMap;

/// What the step sets for later steps (`steps.<id>.outputs.<name>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    pub state_machine_arn: Option<String>,
    /// The version the alias serves after the deploy.
    pub state_machine_version_arn: Option<String>,
    /// `REGISTRY/REPOSITORY@sha256:DIGEST`.
    pub image_uri: Option<String>,
    pub image_digest: Option<String>,
    pub has_changes: bool,
    pub changes_count: usize,
    /// plan.json's path, relative to the workspace, when the run wrote it.
    pub plan_json: Option<String>,
    /// summary.md's path, relative to the workspace, when the run wrote it.
    pub summary_markdown: Option<String>,
}

impl Outputs {
    /// The image the step pushed or deployed: its URI, and the digest the URI pins.
    pub fn set_image(&mut self, uri: &str) {
        self.image_uri = Some(uri.to_string());
        if let Some((_, digest)) = uri.split_once('@') {
            self.image_digest = Some(digest.to_string());
        }
    }

    /// As GITHUB_OUTPUT takes them: by action.yml's names, unset ones left out.
    pub fn to_map(&self) -> BTreeMap<&'static str, String> {
        let optional = [
            ("state-machine-arn", &self.state_machine_arn),
            ("state-machine-version-arn", &self.state_machine_version_arn),
            ("image-uri", &self.image_uri),
            ("image-digest", &self.image_digest),
            ("plan-json", &self.plan_json),
            ("summary-markdown", &self.summary_markdown),
        ];
        let mut map: BTreeMap<&'static str, String> = optional
            .into_iter()
            .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
            .collect();
        map.insert("has-changes", self.has_changes.to_string());
        map.insert("changes-count", self.changes_count.to_string());
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACTION_YML: &str = include_str!("../../action.yml");

    #[test]
    fn every_output_is_declared_in_action_yml_and_every_declared_one_can_be_set() {
        let yml: serde_yaml::Value = serde_yaml::from_str(ACTION_YML).expect("action.yml parses");
        let declared: Vec<&str> = yml["outputs"]
            .as_mapping()
            .expect("action.yml has outputs")
            .keys()
            .filter_map(|k| k.as_str())
            .collect();
        let mut all = Outputs {
            state_machine_arn: Some("a".into()),
            state_machine_version_arn: Some("v".into()),
            plan_json: Some("p".into()),
            summary_markdown: Some("s".into()),
            ..Outputs::default()
        };
        all.set_image("r/x@sha256:00");
        let set: Vec<&str> = all.to_map().into_keys().collect();
        let mut declared_sorted = declared.clone();
        declared_sorted.sort_unstable();
        assert_eq!(set, declared_sorted);
    }

    #[test]
    fn unset_values_are_left_out_and_the_digest_comes_from_the_uri() {
        let mut outputs = Outputs::default();
        assert_eq!(
            outputs.to_map(),
            BTreeMap::from([
                ("changes-count", "0".to_string()),
                ("has-changes", "false".to_string())
            ])
        );
        outputs.set_image("123.dkr.ecr.eu-west-1.amazonaws.com/flights@sha256:ab");
        assert_eq!(outputs.image_digest.as_deref(), Some("sha256:ab"));
    }
}
