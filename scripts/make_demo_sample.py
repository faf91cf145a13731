"""Rebuild the demo sample shipped in src/lextune/demo_data from ../shared/data/cuad (dev-time only).

Takes a seeded random sample of CUAD *train* contracts (never dev or held-out test) and writes
them in CUAD's own SQuAD-2.0 JSON format, gzip-compressed, with the CC BY 4.0 attribution.
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from pathlib import Path

N_CONTRACTS = 60


def main(shared: Path, out: Path) -> None:
    with gzip.open(shared / "cuad_train.squad.json.gz", "rt", encoding="utf-8") as f:
        squad = json.load(f)
    docs = sorted(squad["data"], key=lambda d: d["title"])
    sample = random.Random(0).sample(docs, N_CONTRACTS)
    payload = {"version": "CUAD v1 sample (lextune demo)", "data": sample}
    with gzip.open(out, "wt", encoding="utf-8") as f:
        json.dump(payload, f, ensure_ascii=False)
    print(f"wrote {out} with {len(sample)} contracts")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
