//! The `kedro-sfn` command line: parse arguments, run one subcommand, map errors to an exit
//! code. Everything testable lives in the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use kedro_sfn::commands;

/// Ship a Kedro project to AWS Step Functions.
#[derive(Debug, Parser)]
#[command(name = "kedro-sfn", version, about, long_about = None)]
struct Cli {
    /// More logging (-v: debug, -vv: trace); RUST_LOG also works.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the pipeline document of a Kedro project (runs Kedro with --python).
    Export(commands::export::ExportArgs),
    /// Write the AWS env: conf/<env>/catalog.yml with every dataset on S3, kedro-sfn.yml and
    /// the GitHub workflow.
    Init(commands::init::InitArgs),
    /// Check that the pipeline can run on Lambda; lists every problem at once.
    Check(commands::check::CheckArgs),
    /// Plan the state machine and functions; writes the definition, plan.json and summary.md.
    Plan(commands::plan::PlanArgs),
    /// Build or push the Lambda container image.
    #[command(subcommand)]
    Image(commands::image::ImageCommand),
    /// Deploy: functions, the state machine, a new version and its alias; optionally run it.
    Deploy(commands::deploy::DeployArgs),
    /// Start an execution of the deployed state machine; --wait follows it.
    Execute(commands::execute::ExecuteArgs),
    /// The GitHub Action: plan and comment on pull requests, deploy on pushes (reads INPUT_*).
    #[command(after_help = commands::action::inputs_help())]
    Action,
    /// Move the alias back to the previous (or a given) state machine version.
    Rollback(commands::rollback::RollbackArgs),
    /// Run one task here through the real handler, with the payload its Task state sends.
    RunTask(commands::run_task::RunTaskArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    kedro_sfn::init_tls();
    let result = match &cli.command {
        Command::Export(args) => commands::export::run(args),
        Command::Init(args) => commands::init::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Plan(args) => commands::plan::run(args),
        Command::Image(command) => commands::image::run(command),
        Command::RunTask(args) => commands::run_task::run(args),
        Command::Deploy(args) => commands::deploy::run(args),
        Command::Rollback(args) => commands::rollback::run(args),
        Command::Execute(args) => commands::execute::run(args),
        Command::Action => commands::action::run(),
    };
    let status = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            kedro_sfn::console::err(&format!("error: {error:#}"));
            ExitCode::FAILURE
        }
    };
    // The work went on when stdout could not take its output; say so once, at the end.
    match kedro_sfn::console::stdout_error() {
        Some(why) => {
            kedro_sfn::console::err(&format!(
                "error: the output could not be written to stdout ({why}); the command itself ran to its end: run it again with stdout on a terminal or a file with room"
            ));
            ExitCode::FAILURE
        }
        None => status,
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "kedro_sfn=info",
        1 => "kedro_sfn=debug",
        _ => "kedro_sfn=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .init();
}
