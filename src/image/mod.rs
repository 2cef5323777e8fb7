//! The Lambda container image: the build context kedro-sfn writes, the builders that turn it
//! into an image (docker or buildah, called with argument vectors), and the registry it is
//! pushed to, addressed by digest from then on.

pub mod builder;
pub mod context;
pub mod reference;
pub mod registry;
pub mod source;

pub use builder::{Builder, BuiltImage};
pub use context::{BuildContext, ContextRequest};
pub use reference::ImageRef;

/// Where the image puts the Kedro project (pyproject.toml and conf/), under
/// `LAMBDA_TASK_ROOT`; the handler looks there when `KEDRO_SFN_PROJECT_DIR` is not set.
pub const PROJECT_DIR_IN_IMAGE: &str = "/var/task/kedro_project";

/// `LAMBDA_TASK_ROOT` of AWS's base images: dependencies, the project's package and the
/// handler are installed there.
pub const TASK_ROOT: &str = "/var/task";

/// The environment kedro-sfn runs the image's Python with (the exporter, `image test`):
/// the task root on the path, as Lambda's runtime puts it, no telemetry, no bytecode.
pub fn python_env() -> Vec<(String, String)> {
    vec![
        ("PYTHONPATH".to_string(), TASK_ROOT.to_string()),
        ("KEDRO_DISABLE_TELEMETRY".to_string(), "true".to_string()),
        ("PYTHONDONTWRITEBYTECODE".to_string(), "1".to_string()),
    ]
}

/// The base image when the config names none.
pub const DEFAULT_BASE_IMAGE: &str = "public.ecr.aws/lambda/python";

/// The Python (base image tag) when the config names none.
pub const DEFAULT_PYTHON_VERSION: &str = "3.12";
