"""The project's pipelines; each sub-package is found by ``find_pipelines``."""
