"""``python -m kedro_sfn ...``: the binary, for environments whose scripts directory is not
on PATH."""

import sys

from kedro_sfn._binary import BinaryNotFound, run


def main() -> int:
    try:
        return run(sys.argv[1:])
    except BinaryNotFound as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
