"""`python -m lextune.migrations ARGS`: the alembic command line on the in-package scripts.

Without a connection, env.py opens the store that the LEXTUNE_* settings name (docs/database.md).
"""

from __future__ import annotations

import sys

from alembic.config import CommandLine

from lextune.migrations import alembic_config


def main(argv: list[str] | None = None) -> None:
    cli = CommandLine(prog="python -m lextune.migrations")
    options = cli.parser.parse_args(argv)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    cfg = alembic_config()  # env.py opens the store of the LEXTUNE_* settings, in its schema
    cfg.cmd_opts = options  # `-x` and friends
    cli.run_cmd(cfg, options)


if __name__ == "__main__":
    main(sys.argv[1:])
