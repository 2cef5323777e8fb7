//! `kedro-sfn action`: the GitHub Action's entry point: the runner's INPUT_* and GITHUB_*
//! variables in, the flow of [`crate::github::workflow`], the step's outputs out.

use crate::github::actions::{self, annotation, Context, Inputs};
use crate::github::workflow::run_action;

/// The action's own description of its inputs, shown by `kedro-sfn action --help`.
const ACTION_YML: &str = include_str!("../../action.yml");

/// `action --help`'s list of inputs, read from action.yml so that it cannot drift from it.
pub fn inputs_help() -> String {
    let mut help = String::from(
        "GitHub runs this in the action's container with the step's inputs as INPUT_<NAME> \
         variables (dashes kept) and the event in GITHUB_* variables. Inputs:\n",
    );
    let parsed: serde_yaml::Value = serde_yaml::from_str(ACTION_YML).unwrap_or_default();
    if let Some(inputs) = parsed.get("inputs").and_then(|i| i.as_mapping()) {
        for (name, input) in inputs {
            let name = name.as_str().unwrap_or_default();
            let text = |key: &str| input.get(key).and_then(|v| v.as_str()).unwrap_or_default();
            let default = match text("default") {
                "" => String::new(),
                value => format!(" [default: {value}]"),
            };
            help.push_str(&format!(
                "  INPUT_{}\n      {}{default}\n",
                name.to_ascii_uppercase(),
                text("description")
            ));
        }
    }
    help.push_str("\nExample (a workflow step):\n  - uses: owner/kedro-sfn@v1\n    with: {env: aws, aws-region: eu-west-1}\n");
    help
}

pub fn run() -> anyhow::Result<()> {
    let get = |key: &str| std::env::var(key).ok();
    let inputs = Inputs::from_env(get)?;
    let context = Context::from_env(get)?;
    let (outputs, result) = run_action(&inputs, &context);
    if let Some(path) = &context.output {
        actions::write_outputs(path, &outputs.to_map())?;
    }
    if let Err(error) = &result {
        crate::console::out(&annotation(
            "error",
            None,
            "kedro-sfn",
            &format!("{error:#}"),
        ));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_lists_every_input_of_action_yml() {
        let help = inputs_help();
        for input in ["PROJECT-DIR", "ENV", "MODE", "GITHUB-TOKEN", "IMAGE-URI"] {
            assert!(
                help.contains(&format!("INPUT_{input}\n")),
                "{input}:\n{help}"
            );
        }
        assert!(help.contains("[default: .]"), "{help}");
    }
}
