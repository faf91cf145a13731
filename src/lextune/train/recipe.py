"""Training recipes: YAML files validated by pydantic before any work starts."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lextune.core.errors import ConfigError
from lextune.core.yaml_config import describe_validation, read_yaml_mapping
from lextune.models.catalog import DEFAULT_BASE_MODEL


class LoraSettings(BaseModel):
    """LoRA adapter shape (PEFT LoraConfig)."""

    model_config = ConfigDict(extra="forbid")
    r: int = Field(16, ge=1, description="Rank of the low-rank update.")
    alpha: int = Field(32, ge=1, description="Scaling numerator: the update is scaled by alpha/r.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Module names to adapt, or 'all-linear' (every linear but the head)."
    )
    use_dora: bool = Field(False, description="DoRA: weight-decomposed LoRA (magnitude + direction); slower per step.")


class Recipe(BaseModel):
    """Everything that decides a LoRA fine-tuning run; stored on the model version's card."""

    model_config = ConfigDict(extra="forbid")
    base_model: str = Field(DEFAULT_BASE_MODEL, description="Catalog name, GGUF file or HF model folder.")
    lora: LoraSettings = Field(default_factory=LoraSettings, description="The adapter: rank, scaling, targets, DoRA.")
    tasks: list[str] | None = Field(None, description="Train only on these tasks (default: all).")
    epochs: float = Field(1.0, gt=0, description="Passes over the training rows (fractions allowed).")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps.")
    batch_size: int = Field(8, ge=1, description="Rows per optimizer step.")
    micro_batch_tokens: int = Field(
        1200, ge=16, description="Padded tokens per forward pass; gradients accumulate up to batch_size rows."
    )
    learning_rate: float = Field(3e-4, gt=0, description="Peak AdamW learning rate.")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of steps of linear warm-up.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay on LoRA weights.")
    max_seq_len: int = Field(512, ge=16, description="Longer prompts are cut from the middle.")
    seed: int = Field(0, description="Seed for adapter init and row order.")
    min_rows: int = Field(10, ge=1, description="Refuse to train on fewer training rows.")
    packing: bool = Field(
        True, description="Pack each micro-batch's rows into one sequence (no padding); every example "
                          "still attends only to itself.")
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in the backward pass: less memory, about 1/3 more compute.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="Compute dtype: 'auto' is bf16 on a GPU that has it, else fp32 (bf16 autocast "
                            "measured slower than fp32 for training on the CPUs here).")
    quantization: Literal["none", "4bit", "8bit"] = Field(
        "none", description="Load the frozen base in 4-bit NF4 (QLoRA) or 8-bit via bitsandbytes: GPU only.")
    liger_kernels: bool = Field(True, description="Use Liger kernels when installed and on a GPU.")
    checkpoint_every: int | None = Field(
        None, ge=1, description="Save a resumable checkpoint (adapter, optimizer, scheduler, RNG, data "
                                "position) every this many optimizer steps; default: about 10 per run.")
    keep_checkpoints: int = Field(2, ge=1, description="Newest checkpoints kept (the best one is also kept).")
    eval_every: int | None = Field(
        None, ge=1, description="Validation loss on the dev split every this many steps (default: once, "
                                "at the end); the best checkpoint is kept and its adapter becomes the version.")
    max_eval_rows: int = Field(64, ge=1, description="Dev rows used for the validation loss.")
    early_stopping_patience: int | None = Field(
        None, ge=1, description="Stop after this many validations without a better validation loss.")
    report_to: list[Literal["mlflow"]] = Field(
        default_factory=list, description="Also log training metrics to these trackers when installed.")


def parse_recipe(data: dict | None, source: str = "recipe") -> Recipe:
    try:
        return Recipe.model_validate(data or {})
    except ValidationError as e:
        raise ConfigError(describe_validation(e, source, "recipe")) from None


def load_recipe(path: Path | None) -> Recipe:
    """Read and validate a YAML recipe; None gives the defaults."""
    if path is None:
        return Recipe()
    data = read_yaml_mapping(path, "recipe")
    return parse_recipe(data, str(path))
