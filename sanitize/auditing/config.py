"""The audit's one frozen config. Defaults that change results say why they are what they are."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import SanitizeConfig, TrainConfig

ALL_ATTACKS = ("loss", "zlib", "lowercase", "mink", "minkpp", "reference", "neighbourhood",
               "spv", "ensemble")


@dataclass(frozen=True)
class AttackConfig:
    mink_k: float = 0.2  # Min-K% / Min-K%++: fraction of tokens (Shi et al. and Zhang et al.)
    # Refilled copies per text (perturb.py): the neighbourhood attack's neighbours and
    # SPV-MIA's perturbations, made once and shared.
    neighbours: int = 8
    perturb_rate: float = 0.15  # share of scored tokens refilled per copy (BERT's mask rate)
    spv_prompt_tokens: int = 8  # held-out tokens per self-prompt (spv.py)
    spv_new_tokens: int = 64  # tokens the target generates per self-prompt (one per member)
    spv_epochs: float | None = None  # reference fine-tune epochs; None: the target's
    spv_gen_batch_size: int = 256  # self-prompts generated together
    ensemble_folds: int = 5


@dataclass(frozen=True)
class AuditConfig:
    out_dir: str
    # dataset mode
    original: str | None = None
    protected: str | None = None
    manifest: str | None = None  # the protection's manifest; None: beside `protected`
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
    eval_batch_size: int | None = None  # None: batching.EVAL_BATCH for the device
    bootstrap: int = 1000
    seed: int = 0  # splits, neighbours, SPV noise and generation, bootstrap, ensemble folds
    fail_above_auc: float | None = None
    allow_overlap: bool = False  # audit even if non-members repeat members (see run.py)
    overlap_similarity: float = 0.95  # near-duplicate cosine, as selection's default

    @property
    def mode(self) -> str:
        return "model" if self.model_path else "dataset"
