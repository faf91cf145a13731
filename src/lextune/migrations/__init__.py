"""Alembic migrations of the store's schema, shipped inside the package: no alembic.ini is needed.

The store runs them itself (runner.migrate); `python -m lextune.migrations` is the
alembic command line with this script location, for writing new revisions (docs/database.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.config import Config

SCRIPT_LOCATION = Path(__file__).parent
BASELINE = "0001"
# Config.attributes keys that env.py and the revisions read.
CONNECTION = "connection"
SCHEMA = "lextune_schema"
ADOPT = "lextune_adopt_legacy"  # the baseline takes over tables a pre-Alembic lextune created


def alembic_config(connection: Any = None, schema: str | None = None, adopt: bool = False) -> Config:
    """A Config built in code; with a connection, migrations run on it (in its transaction)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.attributes.update({CONNECTION: connection, SCHEMA: schema, ADOPT: adopt})
    return cfg
