"""Dataset builders. Every module in this package is imported here, so a builder registers itself
(`@register` in base.py) just by existing: adding one never edits this file or another builder."""

from __future__ import annotations

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
