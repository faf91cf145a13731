"""Regenerate the SYNTHETIC privilege sample (src/lextune/demo_data/privilege_sample.jsonl.gz) from its seed.

    .venv/bin/python benchmarks/privilege_sample.py [OUT.jsonl.gz]

Every document is invented and carries "synthetic": true. Then: `lextune privilege eval`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lextune.privilege.synthetic import default_sample_path, write_sample

if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default_sample_path()
    print(f"{write_sample(out)} SYNTHETIC documents -> {out}")
