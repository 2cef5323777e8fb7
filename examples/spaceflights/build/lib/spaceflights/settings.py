"""Project settings: Kedro's defaults, spelled out where kedro-sfn relies on them.

See https://docs.kedro.org/en/stable/configure/configuration_basics/
"""

# `kedro run` without --env reads conf/base overlaid with conf/local;
# `--env aws` reads conf/base overlaid with conf/aws (every dataset on S3).
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
