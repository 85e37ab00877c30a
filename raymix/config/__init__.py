"""The config: one YAML file, the source of truth for a sweep.

- :mod:`~raymix.config.schema`: the sections as dataclasses (what each key means);
- :mod:`~raymix.config.parse`: YAML -> dataclasses, strictly, and keys that moved;
- :mod:`~raymix.config.safe_yaml`: YAML read as plain data (files and values alike);
- :mod:`~raymix.config.overrides`: ``KEY=VALUE`` changes (``--set``) made before parsing;
- :mod:`~raymix.config.checks`: values, and how the sections fit together.

Everything else in raymix takes a :class:`SweepConfig` (or one of its sections).
"""

from raymix.config.checks import check_config, check_search, check_tracking
from raymix.config.overrides import Override, apply_overrides, parse_overrides
from raymix.config.parse import load_config, load_constraints, parse_config
from raymix.config.schema import (
    AT_KEYS,
    BASE_SCALE,
    CHECKPOINTS,
    CONFIRM_SCALE,
    LOSSES,
    MIXTURE_DRAWS,
    MODEL_FIELDS,
    REGRESSOR_NAMES,
    SCALING_LAWS,
    SEARCH_METHODS,
    SECTIONS,
    STRATEGIES,
    WANDB_MODES,
    ComputeConfig,
    ConfirmConfig,
    DataConfig,
    DomainConfig,
    FitConfig,
    MixturesConfig,
    MlflowConfig,
    ModelConfig,
    ModelOverrides,
    ScaleConfig,
    SearchConfig,
    SweepConfig,
    TargetConfig,
    TaskConfig,
    TokenizerConfig,
    TrackingConfig,
    TrainingConfig,
    ValidationConfig,
    WandbConfig,
    family_key,
    task_key,
)

__all__ = [
    "AT_KEYS", "BASE_SCALE", "CHECKPOINTS", "CONFIRM_SCALE", "LOSSES", "MIXTURE_DRAWS",
    "MODEL_FIELDS", "REGRESSOR_NAMES", "SCALING_LAWS", "SEARCH_METHODS", "STRATEGIES",
    "WANDB_MODES", "MlflowConfig", "TrackingConfig", "WandbConfig", "check_tracking",
    "ComputeConfig", "ConfirmConfig", "DataConfig",
    "DomainConfig", "FitConfig", "MixturesConfig", "ModelConfig", "ModelOverrides",
    "ScaleConfig", "SearchConfig", "SweepConfig", "TargetConfig", "TaskConfig", "TokenizerConfig",
    "TrainingConfig", "ValidationConfig", "check_config", "check_search", "load_config",
    "load_constraints", "parse_config", "family_key", "task_key",
    "SECTIONS", "Override", "apply_overrides", "parse_overrides",
]
