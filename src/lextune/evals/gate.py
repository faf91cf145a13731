"""The promotion gate: may candidate B replace reference A? Rules from YAML, read against a comparison.

Three rules, each optional (null in the YAML turns it off):
- target: the legal tasks must get better, beyond chance: delta in the better direction with
  p_value < alpha, on each task's headline (or `metric`); `require: any` (one such task is enough)
  or `all`. Tasks the `general` rule matches are never targets (MMLU is multiple choice too).
- general: general-ability tasks (MMLU) may lose at most `max_drop` (absolute, 0.02 = 2 points)
  on the point estimate. Not on the CI: a few hundred MMLU questions give an interval some 10 points
  wide, so a CI rule would block every candidate or none.
- forgetting: B's mean per-token KL(B || base) on generic prompts stays under `max_kl` nats.

A rule whose tasks are absent from the comparison is *missing*: the gate fails unless
`allow_missing: true`, so a forgotten MMLU run cannot wave a candidate through.
"""

from __future__ import annotations

import fnmatch
import math
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lextune.core.errors import ConfigError
from lextune.core.yaml_config import describe_validation, read_yaml_mapping
from lextune.evals.comparison import resolve_or_none

LEGAL_KINDS = ["span", "classification", "multiple_choice", "cited_qa"]
_GLOB_CHARS = set("*?[")


class TargetRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tasks: list[str] = Field(["*"], description="Task label patterns (fnmatch: * and ?).")
    kinds: list[str] = Field(default_factory=lambda: list(LEGAL_KINDS), description="Task kinds that count.")
    require: Literal["any", "all"] = Field("any", description="One target task must improve, or all of them.")
    metric: str | None = Field(None, description="Metric to judge (dotted path); default: the headline.")
    beat_baselines: bool = Field(True, description="B must also beat every trivial baseline on the metric.")


class GeneralRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tasks: list[str] = Field(["mmlu*"], description="Task label patterns of general-ability tasks.")
    max_drop: float = Field(0.02, ge=0, description="Largest allowed loss, absolute (0.02 = 2 points).")
    metric: str | None = Field(None, description="Metric to judge; default: each task's headline.")


class ForgettingRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tasks: list[str] = Field(["*"], description="Label patterns of tasks of kind 'forgetting'.")
    metric: str = Field("kl", description="Metric of B to bound (dotted path).")
    max_kl: float = Field(0.5, gt=0, description="Bound on B's mean per-token KL from the base, in nats.")


class Gate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level of the target rule.")
    allow_missing: bool = Field(False, description="Pass even when a rule's tasks were not evaluated.")
    target: TargetRule | None = Field(default_factory=TargetRule)
    general: GeneralRule | None = Field(default_factory=GeneralRule)
    forgetting: ForgettingRule | None = Field(default_factory=ForgettingRule)


class Check(BaseModel):
    """One judgement. `required` False: shown for information (a single target task under `require: any`)."""

    name: str
    passed: bool
    detail: str
    required: bool = True


class GateVerdict(BaseModel):
    passed: bool
    checks: list[Check]
    missing: list[str]


DEFAULT_GATE = "demo_data/gate.yaml"


def _key_line(text: str, loc: tuple) -> int | None:
    """1-based line of the YAML key at `loc` (as deep as it exists), for the error message."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for key_node, value_node in node.value:
            if key_node.value == str(part):
                line, node = key_node.start_mark.line + 1, value_node
                break
        else:
            break
    return line


def parse_gate(data: dict | None, source: str = "gate", text: str | None = None) -> Gate:
    """Validate a gate mapping; ConfigError naming `source`, each bad key (and its line, given `text`)."""
    try:
        return Gate.model_validate(data or {})
    except ValidationError as e:
        message = describe_validation(e, source, "gate")
        if text is not None:
            lines = [_key_line(text, tuple(err["loc"])) for err in e.errors()]
            lines = [str(n) for n in lines if n is not None]
            if lines:
                message += f" (line {', '.join(dict.fromkeys(lines))})"
        raise ConfigError(message) from None


def default_gate_path() -> Path:
    """The shipped gate file, lextune/demo_data/gate.yaml."""
    return Path(str(resources.files("lextune").joinpath(DEFAULT_GATE)))


def load_gate(path: Path | None = None) -> Gate:
    """The gate in `path` (default: the shipped one); ConfigError naming the file, key and line."""
    path = Path(path) if path is not None else default_gate_path()
    data = read_yaml_mapping(path, "gate")
    return parse_gate(data, str(path), path.read_text(encoding="utf-8"))


def _matches(label: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(label, p) for p in patterns)


def _select(tasks: list[dict], patterns: list[str], rule: str, missing: list[str], keep) -> list[dict]:
    """Tasks matching `patterns` that `keep` accepts; records in `missing` what should be there and is not."""
    chosen = [t for t in tasks if _matches(str(t.get("task")), patterns) and keep(t)]
    labels = {str(t.get("task")) for t in chosen}
    for p in patterns:  # a task named outright must be there, whatever else matched
        if not (_GLOB_CHARS & set(p)) and p not in labels:
            missing.append(f"{rule}: task {p!r} is not in the comparison")
    if not chosen and all(_GLOB_CHARS & set(p) for p in patterns):
        missing.append(f"{rule}: no task in the comparison matches {', '.join(patterns)}")
    return chosen


def _num(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _plain(metric: str) -> str:
    return metric.replace("_", " ")


def _pts(value: float) -> str:
    return f"{value * 100:+.1f} points"


def _p(p: float, n_resamples: Any) -> str:
    """"p = 0.013"; at the bootstrap's floor (1/resamples) only an upper bound is known."""
    floor = 1 / n_resamples if isinstance(n_resamples, int) and n_resamples > 0 else 0.0
    return f"p \u2264 {floor:.3f}" if p <= floor + 1e-12 else f"p = {p:.3f}"


def _target_checks(rule: TargetRule, alpha: float, tasks: list[dict], general: GeneralRule | None,
                   missing: list[str]) -> list[Check]:
    general_patterns = general.tasks if general else []
    chosen = _select(tasks, rule.tasks, "target", missing,
                     lambda t: t.get("kind") in rule.kinds
                     and not _matches(str(t.get("task")), general_patterns))
    if not chosen:
        return []
    per_task = []
    for t in chosen:
        metric = rule.metric or str(t.get("headline"))
        ci = (t.get("ci") or {}).get(metric) or {}
        delta, p = (ci.get("delta") or [None])[0], ci.get("p_value")
        name = f"{t['task']}: better on {metric}"
        if _num(delta) is None or _num(p) is None:
            detail = f"no paired test of {metric} in the comparison"
            per_task.append(Check(name=name, passed=False, detail=detail))
            continue
        higher = t.get("higher_is_better", True)
        better = delta > 0 if higher else delta < 0
        passed = better and p < alpha
        verdict = ("better, beyond chance" if passed else
                   "better, but within what chance gives" if better else "not better")
        detail = (f"{_plain(metric)} changed by {_pts(delta)} ({_p(p, t.get('n_resamples'))}, "
                  f"needs < {alpha:g}): {verdict}")
        # Beating the old model is not enough when a trivial predictor (echo the excerpt, always
        # "Not found", the majority label) does better still: the task is not learned, only less bad.
        b_value = _num((t.get("b") or {}).get(metric))
        beaten_by = [(name_, v) for name_, v in _baseline_values(t, metric)
                     if b_value is not None and (v >= b_value if higher else v <= b_value)]
        if rule.beat_baselines and beaten_by:
            passed = False
            detail += "; but the trivial baseline " + ", ".join(
                f"'{n}' scores {v:.3f}" for n, v in beaten_by) + f" against B's {b_value:.3f}"
        per_task.append(Check(name=name, passed=passed, detail=detail))
    wins = sum(c.passed for c in per_task)
    need = "at least one" if rule.require == "any" else "every one"
    summary = Check(
        name="legal tasks: " + ("at least one better" if rule.require == "any" else "all better"),
        passed=(wins >= 1) if rule.require == "any" else (wins == len(per_task)),
        detail=f"{wins} of {len(per_task)} legal tasks improved beyond chance; {need} must",
    )
    for c in per_task:
        c.required = rule.require == "all"
    return [summary, *per_task]


def _baseline_values(task: dict, metric: str) -> list[tuple[str, float]]:
    out = []
    for name, metrics in (task.get("baselines") or {}).items():
        value = _num(metrics.get(metric)) if isinstance(metrics, dict) else None
        if value is not None:
            out.append((name, value))
    return out


def _general_checks(rule: GeneralRule, tasks: list[dict], missing: list[str]) -> list[Check]:
    checks = []
    for t in _select(tasks, rule.tasks, "general", missing, lambda t: True):
        metric = rule.metric or str(t.get("headline"))
        a, b = _num(resolve_or_none(t.get("a"), metric)), _num(resolve_or_none(t.get("b"), metric))
        name = f"{t['task']}: general ability holds up ({metric})"
        if a is None or b is None:
            checks.append(Check(name=name, passed=False, detail=f"{metric} missing from the comparison"))
            continue
        drop = a - b if t.get("higher_is_better", True) else b - a
        passed = drop <= rule.max_drop + 1e-12  # 1e-12: a drop of exactly max_drop passes despite rounding
        shown = (f"{a:.1%} to {b:.1%}" if 0 <= min(a, b) and max(a, b) <= 1 else f"{a:.3f} to {b:.3f}")
        detail = (f"{_plain(metric)} went from {shown} ({_pts(b - a)}); "
                  f"allowed loss {rule.max_drop * 100:.1f} points")
        checks.append(Check(name=name, passed=passed, detail=detail))
    return checks


def _forgetting_checks(rule: ForgettingRule, tasks: list[dict], missing: list[str]) -> list[Check]:
    checks = []
    for t in _select(tasks, rule.tasks, "forgetting", missing, lambda t: t.get("kind") == "forgetting"):
        kl = _num(resolve_or_none(t.get("b"), rule.metric))
        name = f"{t['task']}: stays close to the base model ({rule.metric})"
        if kl is None:
            detail = f"{rule.metric} of B missing from the comparison"
            checks.append(Check(name=name, passed=False, detail=detail))
            continue
        detail = (f"B drifts {kl:.3f} nats per token from the base model (mean KL); "
                  f"allowed at most {rule.max_kl:g}")
        checks.append(Check(name=name, passed=kl <= rule.max_kl, detail=detail))
    return checks


def evaluate_gate(gate: Gate, comparison: dict) -> GateVerdict:
    """Judge `comparison` ({"tasks": [compare_task entries]}); passed when every required check
    passes and, unless allow_missing, no rule lacks its tasks."""
    tasks = list(comparison.get("tasks") or [])
    missing: list[str] = []
    checks: list[Check] = []
    if gate.target:
        checks += _target_checks(gate.target, gate.alpha, tasks, gate.general, missing)
    if gate.general:
        checks += _general_checks(gate.general, tasks, missing)
    if gate.forgetting:
        checks += _forgetting_checks(gate.forgetting, tasks, missing)
    passed = all(c.passed for c in checks if c.required) and (gate.allow_missing or not missing)
    return GateVerdict(passed=passed, checks=checks, missing=missing)
