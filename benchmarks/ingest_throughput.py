"""Benchmark: lextune's ingest in pages/s on the CUAD train contracts, against a plain baseline.

Measured in one run, on the same files:
- lextune: `Vault(store, workers=N).ingest([folder])` into a fresh store, on the contracts as .txt files
  and on PDFs rendered from them with fpdf2 (Helvetica). A text "page" is 3,000 characters; a PDF page
  is a real page.
- baseline: read the file (pypdf text extraction for PDFs) and cut it with a fixed-size character
  splitter (1,500 characters, 200 overlap), or LangChain's RecursiveCharacterTextSplitter when
  `langchain_text_splitters` is installed; one process, nothing stored.
The comparison is only fair read with this in mind: lextune's ingest does much more than the baseline
(legal-structure chunking with heading paths, defined terms, MinHash signatures of every document and
chunk, near-duplicate document families, a SQLite store with an FTS5 index, an audit event per
document), so the ratio is the price of that work, not a like-for-like race.

Also measured: peak RSS of an ingest at 1x and 10x a subset of the corpus (each in its own subprocess:
the parent's ru_maxrss, and the largest worker's by RUSAGE_CHILDREN and by sampled VmHWM), and the
anonymizer's cost per page. A timer stops the run, naming the file, when ingest stalls (--stall).

    .venv/bin/python benchmarks/ingest_throughput.py [--cuad PATH] [--limit N] [--pdf-limit N]
        [--workers N] [--rss-contracts 30] [--pii-sample 10] [--skip-rss] [--skip-pdf] [--skip-pii]
        [--profile]
"""

from __future__ import annotations

# Worker processes are spawned and re-import this file as __mp_main__: keep module-level imports light.
import argparse
import json
import multiprocessing
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

import _corpus
from _corpus import CHARS_PER_PAGE, text_pages

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CUAD = REPO.parent / "shared" / "data" / "cuad" / "cuad_train.contracts.jsonl.gz"
CHUNK, OVERLAP = 1500, 200


# ------------------------------------------------------------------ baseline
def split_fixed(text: str, size: int = CHUNK, overlap: int = OVERLAP) -> list[str]:
    """Fixed-size character windows, `overlap` characters shared between neighbours."""
    step = size - overlap
    return [text[i:i + size] for i in range(0, max(len(text) - overlap, 1), step)]


def baseline_splitter() -> tuple[str, Callable[[str], list[str]]]:
    try:
        from langchain_text_splitters import RecursiveCharacterTextSplitter
    except ImportError:
        return f"fixed-size character splitter ({CHUNK:,} chars, {OVERLAP} overlap)", split_fixed
    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK, chunk_overlap=OVERLAP)
    label = f"LangChain RecursiveCharacterTextSplitter ({CHUNK:,} chars, {OVERLAP} overlap)"
    return label, splitter.split_text


def baseline_text(folder: Path, split: Callable[[str], list[str]]) -> tuple[float, int]:
    start = time.perf_counter()
    n_chunks = sum(len(split(p.read_text(encoding="utf-8"))) for p in _corpus.iter_files(folder, ".txt"))
    return time.perf_counter() - start, n_chunks


def baseline_pdf(folder: Path, split: Callable[[str], list[str]]) -> tuple[float, int]:
    from pypdf import PdfReader

    start = time.perf_counter()
    n_chunks = 0
    for p in _corpus.iter_files(folder, ".pdf"):
        text = "\n\n".join(page.extract_text() or "" for page in PdfReader(p).pages)
        n_chunks += len(split(text))
    return time.perf_counter() - start, n_chunks


# ------------------------------------------------------------------ lextune
def open_store(home: Path):
    from lextune.core.config import Settings
    from lextune.core.store import Store

    return Store(Settings(home=home, database_url=None))


_TEMP_DIRS: list[Path] = []
STALL_S = 300  # no file finished for this long: report the stall and stop instead of hanging


class Watchdog:
    """Stops the benchmark when ingest stalls (no file finished for STALL_S), naming where it stuck.

    Files are stored in the order found, so the stall is in the file after the last one stored (or in
    one of the few prepared alongside it). A timer signal, not a thread: a small batch is prepared in
    this process, and a regex running in C holds the GIL but still lets signal handlers run.
    """

    def __init__(self, folder: Path, stall_s: float | None = None):
        self.files = sorted(str(p) for p in folder.iterdir())
        self.stall_s = stall_s or STALL_S
        self.done, self.last = 0, time.monotonic()
        self._previous = None

    def on_file(self, _path: Path) -> None:
        self.done, self.last = self.done + 1, time.monotonic()

    def __enter__(self) -> Self:
        self._previous = signal.signal(signal.SIGALRM, self._check)
        signal.setitimer(signal.ITIMER_REAL, 5, 5)
        return self

    def __exit__(self, *exc) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous)

    def _check(self, _signum, _frame) -> None:
        if time.monotonic() - self.last <= self.stall_s:
            return
        stuck = self.files[self.done] if self.done < len(self.files) else "?"
        print(f"ingest STALLED: no file finished for {self.stall_s:.0f} s after {self.done} of "
              f"{len(self.files)} files; stuck on {stuck}", flush=True)
        for child in multiprocessing.active_children():
            child.kill()
        for folder in _TEMP_DIRS:  # os._exit skips TemporaryDirectory's clean-up
            shutil.rmtree(folder, ignore_errors=True)
        os._exit(2)


def lextune_ingest(folder: Path, home: Path, workers: int):
    """Seconds for one ingest of `folder` into a fresh store at `home`, and its report."""
    from lextune.vault.vault import Vault

    store = open_store(home)
    try:
        with Watchdog(folder) as watchdog:
            start = time.perf_counter()
            report = Vault(store, workers=workers).ingest([folder], on_file=watchdog.on_file)
            return time.perf_counter() - start, report
    finally:
        store.close()


def check(report, n_files: int) -> str:
    if report.errors or report.n_files != n_files:
        raise SystemExit(f"ingest did not take every file: {report.n_files}/{n_files}, "
                         f"errors {report.errors[:3]}")
    return (f"{report.n_files} files, {len(report.added)} documents stored "
            f"({len(report.duplicates)} exact duplicates skipped), {report.n_chunks:,} chunks")


def compare(kind: str, pages: float, page_unit: str, base: tuple[float, int], lex: tuple[float, object],
            n_files: int) -> None:
    (b_s, b_chunks), (l_s, report) = base, lex
    b_rate, l_rate = pages / b_s, pages / l_s
    print(f"{kind}: corpus {n_files} files, {pages:,.0f} pages ({page_unit})")
    print(f"{kind}: baseline {b_rate:10,.1f} pages/s  ({b_s:7.2f} s, {b_chunks:,} chunks, 1 process)")
    print(f"{kind}: lextune  {l_rate:10,.1f} pages/s  ({l_s:7.2f} s, {check(report, n_files)})")
    print(f"{kind}: ratio vs baseline: {l_rate / b_rate:.2f}x pages/s"
          f"  (lextune takes {b_rate / l_rate:,.1f}x the baseline's time)")


# ------------------------------------------------------------------ peak RSS
def _hwm_kb(pid: int | str = "self") -> int:
    """Peak RSS (VmHWM, KiB) of a live process; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), 0)
    except OSError:
        return 0


def _children() -> list[int]:
    pids: list[int] = []
    for task in Path("/proc/self/task").iterdir():  # a child belongs to the thread that started it
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return pids


class ChildPeaks:
    """Samples the VmHWM of this process's children while they live: their own peak.

    RUSAGE_CHILDREN's ru_maxrss is not: Linux carries a process's peak RSS over fork and exec, so a
    worker's figure is at least what its parent held when it started the worker.
    """

    def __init__(self, every_s: float = 0.1):
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True)

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            for pid in _children():
                self.peaks[pid] = max(self.peaks.get(pid, 0), _hwm_kb(pid))

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def rss_child(folder: Path, home: Path, workers: int) -> None:
    """Run in its own subprocess: one ingest, then this process's and its largest child's peak RSS (KiB)."""
    import lextune.vault.vault  # noqa: F401 - imports count in "after imports", not in the ingest

    open_store(home).close()
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with ChildPeaks() as children:
        seconds, report = lextune_ingest(folder, home, workers)
    print(json.dumps({
        "seconds": seconds, "files": report.n_files, "documents": len(report.added),
        "chunks": report.n_chunks, "errors": len(report.errors), "before_kb": before_kb,
        "parent_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "child_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,  # the largest waited-for child
        "child_hwm_kb": max(children.peaks.values(), default=0), "n_children": len(children.peaks),
    }))


# Started through this small launcher: a process's ru_maxrss starts at its parent's peak (kept over fork
# and exec), and this benchmark's own process has grown by then; the launcher's has not.
_LAUNCH = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def measure_rss(folder: Path, home: Path, workers: int) -> dict:
    cmd = [sys.executable, "-c", _LAUNCH, sys.executable, str(Path(__file__).resolve()), "--rss-child",
           str(folder), "--rss-home", str(home), "--workers", str(workers), "--stall", str(STALL_S)]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"RSS subprocess failed ({done.returncode}):\n"
                         f"{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rss_section(contracts: list, workers: int, n_contracts: int, tmp: Path) -> None:
    subset = _corpus.spread(contracts, n_contracts)
    runs = {}
    for copies in (1, 10):
        folder = tmp / f"rss-{copies}x"
        n_chars = _corpus.write_texts(subset, folder, copies=copies)
        r = runs[copies] = measure_rss(folder, tmp / f"home-rss-{copies}x", workers)
        pages = text_pages(n_chars)
        print(f"rss {copies:>2}x: {r['files']} files, {pages:,.0f} pages, {r['chunks']:,} chunks, "
              f"{r['seconds']:.1f} s ({pages / r['seconds']:,.1f} pages/s)")
        print(f"rss {copies:>2}x: peak RSS parent {r['parent_kb'] / 1024:,.1f} MiB (ru_maxrss; "
              f"{r['before_kb'] / 1024:,.1f} MiB after imports, before ingest); largest worker "
              f"{r['child_hwm_kb'] / 1024:,.1f} MiB (VmHWM sampled every 0.1 s over {r['n_children']} child "
              f"processes), {r['child_kb'] / 1024:,.1f} MiB by RUSAGE_CHILDREN ru_maxrss (floored at the "
              "parent's RSS when it started them)")
        if r["errors"]:
            print(f"rss {copies:>2}x: {r['errors']} files skipped with errors")
    one, ten = runs[1], runs[10]
    print(f"rss 10x/1x: parent {ten['parent_kb'] / one['parent_kb']:.2f}x "
          f"(ingest's own growth {(one['parent_kb'] - one['before_kb']) / 1024:,.1f} -> "
          f"{(ten['parent_kb'] - ten['before_kb']) / 1024:,.1f} MiB), largest worker "
          f"{ten['child_hwm_kb'] / max(one['child_hwm_kb'], 1):.2f}x by VmHWM, "
          f"{ten['child_kb'] / max(one['child_kb'], 1):.2f}x by ru_maxrss "
          f"(10x the files, {ten['chunks'] / max(one['chunks'], 1):.1f}x the chunks)")


# ------------------------------------------------------------------ anonymization
def pii_section(contracts: list, n_sample: int) -> None:
    try:
        from lextune.vault.pii import Anonymizer

        anonymizer = Anonymizer()
        sample = _corpus.spread(contracts, n_sample)
        anonymizer.redactions(sample[0].text[:CHARS_PER_PAGE])  # warm-up: loads spaCy and the recognizers
    except Exception as exc:  # noqa: BLE001 - the benchmark reports it and goes on
        print(f"anonymization: not available ({type(exc).__name__}: {exc})")
        return
    n_chars = n_red = 0
    start = time.perf_counter()
    for c in sample:
        n_red += len(anonymizer.redactions(c.text))
        n_chars += len(c.text)
    seconds = time.perf_counter() - start
    pages = text_pages(n_chars)
    print(f"anonymization: {len(sample)} contracts, {pages:,.0f} pages, {n_red:,} redactions, "
          f"{seconds:.1f} s (one process, after one warm-up call)")
    print(f"anonymization: {1000 * seconds / pages:,.1f} ms/page, {pages / seconds:,.2f} pages/s")


# ------------------------------------------------------------------ profile
def profile_section(contracts: list, tmp: Path, n_contracts: int) -> None:
    """cProfile of a one-process ingest (workers=1): where the time goes, parent side vs worker side."""
    import cProfile
    import pstats

    subset = contracts[:n_contracts]
    folder = tmp / "profile"
    pages = text_pages(_corpus.write_texts(subset, folder))
    prof = cProfile.Profile()
    prof.enable()
    seconds, report = lextune_ingest(folder, tmp / "home-profile", 1)
    prof.disable()
    stats = pstats.Stats(prof)
    by_name = {f"{Path(k[0]).name}:{k[2]}": v[3] for k, v in stats.stats.items()}  # cumulative seconds
    prepare = by_name.get("ingest_worker.py:prepare_file", 0.0)
    store = by_name.get("vault.py:_store_file", 0.0)
    print(f"profile: {len(subset)} contracts, {pages:,.0f} pages, workers=1: {seconds:.2f} s "
          f"({pages / seconds:,.1f} pages/s, {check(report, len(subset))})")
    print(f"profile: prepare_file (worker side) {prepare:.2f} s, _store_file (parent side, serial) "
          f"{store:.2f} s (both under cProfile); however many workers prepare files, the parent's serial "
          f"share caps ingest near {pages / store:,.0f} pages/s")
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(30)


# ------------------------------------------------------------------ main
def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"machine: {platform.platform()}, {cpu}, {os.cpu_count()} cores ({usable} usable), "
            f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f} at start")


def main() -> None:
    global STALL_S
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cuad", type=Path, default=DEFAULT_CUAD, help="CUAD contracts JSON lines (with 'text')")
    ap.add_argument("--limit", type=int, default=None, help="contracts for the text corpus (default all)")
    ap.add_argument("--pdf-limit", type=int, default=40,
                    help="contracts rendered as PDFs, spread over the corpus (default 40: fpdf2 is slow)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rss-contracts", type=int, default=30,
                    help="contracts in the 1x RSS corpus (10x: 10 copies of each)")
    ap.add_argument("--pii-sample", type=int, default=10, help="contracts timed through the anonymizer")
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--skip-pdf", action="store_true")
    ap.add_argument("--skip-pii", action="store_true")
    ap.add_argument("--profile", action="store_true", help="also cProfile a one-process text ingest")
    ap.add_argument("--profile-contracts", type=int, default=60)
    ap.add_argument("--stall", type=float, default=STALL_S,
                    help="stop with a message when no file finishes for this many seconds (default 300)")
    ap.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--rss-home", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # figures appear as they are measured, even into a file
    STALL_S = args.stall
    if args.rss_child:
        rss_child(args.rss_child, args.rss_home, args.workers)
        return

    contracts = _corpus.read_contracts(args.cuad, args.limit)
    label, split = baseline_splitter()
    import lextune

    print(machine())
    print(f"lextune {lextune.__version__} from {Path(lextune.__file__).parent}")
    print(f"corpus: {args.cuad.name}, {len(contracts)} contracts, "
          f"{sum(len(c.text) for c in contracts):,} characters")
    print(f"baseline: file read (text) or pypdf extract_text (PDF) + {label}, one process, nothing stored")
    print("lextune ingest does more than the baseline: legal-structure chunking (heading paths, "
          "recitals, definitions, signature blocks), defined terms with spans, MinHash signatures of every "
          "document and chunk, near-duplicate families, a SQLite store with an FTS5 index, and an audit "
          "event per document")
    print(f"lextune: Vault(store, workers={args.workers}).ingest([folder]) into a fresh SQLite store; "
          "PDF text through pypdfium2")
    print(f"page: {CHARS_PER_PAGE:,} characters for text files; a real page for PDFs")
    print()
    with tempfile.TemporaryDirectory(prefix="lextune-bench-") as tmp_name:
        tmp = Path(tmp_name)
        _TEMP_DIRS.append(tmp)
        text_dir = tmp / "text"
        pages = text_pages(_corpus.write_texts(contracts, text_dir))
        base = baseline_text(text_dir, split)
        lex = lextune_ingest(text_dir, tmp / "home-text", args.workers)
        compare("text", pages, f"{CHARS_PER_PAGE:,} characters each", base, lex, len(contracts))
        print()

        if not args.skip_pdf:
            subset = _corpus.spread(contracts, args.pdf_limit)
            pdf_dir = tmp / "pdf"
            start = time.perf_counter()
            n_pages = _corpus.render_pdfs(subset, pdf_dir)
            render_s = time.perf_counter() - start
            print(f"pdf: rendered {len(subset)} of {len(contracts)} contracts (spread over the corpus) to "
                  f"{n_pages:,} Letter pages, 10 pt Helvetica, fpdf2, in {render_s:.1f} s (not timed below)")
            base = baseline_pdf(pdf_dir, split)
            lex = lextune_ingest(pdf_dir, tmp / "home-pdf", args.workers)
            compare("pdf", n_pages, "real PDF pages", base, lex, len(subset))
            print()

        if not args.skip_rss:
            print(f"rss: {min(args.rss_contracts, len(contracts))} contracts spread over the corpus; 10x = "
                  "ten copies of each, each with its own header line (not exact duplicates); each ingest in "
                  f"its own subprocess, workers={args.workers}")
            rss_section(contracts, args.workers, args.rss_contracts, tmp)
            print()

        if not args.skip_pii:
            pii_section(contracts, args.pii_sample)
            print()

        if args.profile:
            profile_section(contracts, tmp, args.profile_contracts)
    print(f"load average {os.getloadavg()[0]:.2f} at end (other processes on this machine skew wall times)")


if __name__ == "__main__":
    main()
