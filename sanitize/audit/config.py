"""The audit's one frozen config. Defaults that change results say why they are what they are."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import SanitizeConfig, TrainConfig

ALL_ATTACKS = ("loss", "zlib", "lowercase", "mink", "minkpp", "reference", "neighbourhood",
               "spv", "ensemble")


@dataclass(frozen=True)
class AttackConfig:
    mink_k: float = 0.2  # Min-K% / Min-K%++: fraction of tokens (Shi et al. and Zhang et al.)
    neighbours: int = 8  # neighbourhood attack: perturbed copies per text
    neighbour_rate: float = 0.1  # fraction of words swapped per neighbour
    spv_pairs: int = 4  # SPV-MIA: symmetric (+z, -z) perturbation pairs per text
    spv_noise: float = 0.1  # perturbation std, in units of the embedding matrix's std
    spv_prompt_tokens: int = 8  # self-prompt: leading tokens of each text used as the prompt
    spv_new_tokens: int = 64  # tokens the target generates per self-prompt
    spv_epochs: float | None = None  # reference fine-tune epochs; None: the target's
    ensemble_folds: int = 5


@dataclass(frozen=True)
class AuditConfig:
    out_dir: str
    # dataset mode
    original: str | None = None
    protected: str | None = None
    holdout_fraction: float | None = None
    sanitize: SanitizeConfig | None = None  # how --holdout-fraction protects its member part
    # model mode
    model_path: str | None = None  # an already fine-tuned model (None: dataset mode)
    members: str | None = None
    reference: str | None = None  # base model for the reference attack and SPV-MIA
    # both
    nonmembers: str | None = None
    validation: str | None = None  # perplexity data; None: the non-members
    base_model: str | None = None  # dataset mode: the model to fine-tune (None: embedded)
    fmt: str = "auto"
    attacks: tuple[str, ...] = ALL_ATTACKS
    attack: AttackConfig = field(default_factory=AttackConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval_batch_size: int = 16
    bootstrap: int = 1000
    seed: int = 0  # splits, neighbours, SPV noise and generation, bootstrap, ensemble folds
    fail_above_auc: float | None = None

    @property
    def mode(self) -> str:
        return "model" if self.model_path else "dataset"
