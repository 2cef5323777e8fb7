"""kedro-sfn: ship a Kedro project to AWS Step Functions.

The work is done by the ``kedro-sfn`` binary that this distribution installs next to the
Python interpreter (as ruff and uv ship theirs). This package adds two things around it:
``kedro sfn ...`` inside a Kedro project (``kedro_sfn.plugin``), and ``python -m kedro_sfn``
for environments whose scripts directory is not on PATH.
"""

from kedro_sfn._binary import find_binary

__all__ = ["find_binary"]
