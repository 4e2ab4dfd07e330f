"""The ``kubeheal`` command: generate CRDs, evaluate detectors, approve actions, run the operator.

Each subcommand prints what it did, and on failure one clear line on stderr with a non-zero
exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _crds(args: argparse.Namespace) -> int:
    from kubeheal.api.crd import write_crds

    for path in write_crds(Path(args.out)):
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubeheal", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    crds = commands.add_parser("crds", help="write the CRD manifests generated from the API models")
    crds.add_argument("--out", default="crds", help="directory to write to (default: crds)")
    crds.set_defaults(run=_crds)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
