"""The settings of ``zoo train``, ``zoo finetune`` and ``zoo compress``, and the names they accept.

Each field of :class:`TrainConfig`, :class:`FinetuneConfig` and :class:`CompressConfig` carries what its
command-line flag needs (help text, accepted values, help section) in its metadata, so the ``zoo`` commands
build their flags from these classes (``zoo.cli.common.add_config_flags``) and the two cannot drift apart.
A field made with :func:`option` is a flag; one made with :func:`not_a_flag` is set from Python only (or from
another flag, as ``verbose`` from ``--quiet``).

Imports nothing heavy: the ``zoo`` parser is built from this module without TensorFlow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from zoo.training.distribute import LR_SCALINGS, STRATEGIES

OPTIMIZERS = ("sgd", "gd", "momentum", "adam", "adamw", "rmsprop")
SCHEDULES = ("cosine", "warmup_cosine", "one_cycle", "constant", "step", "inverse_time")
#: The schedules of ``zoo finetune``: ``two_stage`` (head, then unfrozen) or one stage of a plain schedule.
FINETUNE_SCHEDULES = ("two_stage", "cosine", "constant")
#: How ``zoo finetune``'s new head starts: fitted on the backbone's features (``zoo.training.head_probe``), or random.
HEAD_INITS = ("probe", "random")
#: The schedules ``zoo compress`` offers (the others need a warm-up or the steps per epoch).
COMPRESS_SCHEDULES = ("constant", "cosine", "step")
#: ``augment`` values: the data set's standard, none, or a name of ``zoo.data.pipeline.AUGMENTATIONS``.
AUGMENTS = ("auto", "none", "crop_flip", "shift", "crop_flip_cutout", "crop_flip_cutout8")
#: ``mix`` values: none, or a name of ``zoo.data.mixing.MIXES`` (batch-level, after ``augment``).
MIXES = ("none", "mixup", "cutmix", "mixup_cutmix")
#: How a language model reads its text: shuffled random windows or sequential streams.
SAMPLINGS = ("random", "sequential")
#: Which weights a run keeps: the best epoch's on the validation measure, or the last epoch's.
SELECTIONS = ("best", "last")
#: ``TrainConfig.jit_compile`` -> Keras' ``compile(jit_compile=...)``.
JIT_COMPILE = {"auto": "auto", "on": True, "off": False}
#: ``CompressConfig.method``: soft weight sharing, or the weight-decay baseline without the prior.
METHODS = ("sws", "weight_decay")
#: The help section of the flags about devices, precision and interruptions.
DISTRIBUTION = "distribution and fault tolerance"


def option(
    default: Any,
    help: str | None = None,
    *,
    choices: Sequence[str] | None = None,
    group: str | None = None,
    metavar: str | None = None,
    from_flag: Callable[[Any], Any] | None = None,
) -> Any:
    """A config field that is also a command-line flag (``--batch-size`` for ``batch_size``).

    Args:
        default: the field's default, also the flag's.
        help: the flag's help text (a plain ``%``, no argparse escapes).
        choices: the values the flag accepts, as the user spells them.
        group: the help section the flag is listed in (default: the command's options).
        metavar: the flag's value in the help text.
        from_flag: maps the parsed flag value onto the field's value (default: taken as it is).
    """
    flag = {"help": help, "choices": choices, "group": group, "metavar": metavar, "from_flag": from_flag}
    return dataclasses.field(default=default, metadata={"flag": flag})


def not_a_flag(default: Any) -> Any:
    """A config field without a command-line flag of its own."""
    return dataclasses.field(default=default, metadata={"flag": None})


def require_positive_ints(config, *names: str) -> None:
    """Raises ValueError naming the first of ``config``'s fields ``names`` that is not a positive int."""
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")


def require_choice(config, name: str, choices: Sequence[str]) -> None:
    """Raises ValueError when ``config``'s field ``name`` is not one of ``choices``."""
    value = getattr(config, name)
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}. Received: {name}={value!r}")


def _seed() -> Any:
    return option(0)


def _mixed_precision() -> Any:
    return option(
        False,
        "compute in float16 (GPU) or bfloat16 (slow on CPUs without bfloat16 instructions); weights stay float32",
        group=DISTRIBUTION,
    )


def _resume() -> Any:
    return option(False, "continue the interrupted run in --out from its last backup", group=DISTRIBUTION)


def _backup_every() -> Any:
    return option(
        0,
        "also back up the training state every STEPS batches (default: at epoch ends)",
        group=DISTRIBUTION,
        metavar="STEPS",
    )


def _verbose() -> Any:
    return not_a_flag("auto")  # Keras' verbose; the commands set 2 (one line per epoch) with --quiet


@dataclasses.dataclass
class TrainConfig:
    """Hyper-parameters of one run (every field but ``verbose`` is a flag of ``zoo train``).

    Distribution: ``strategy`` (``auto``, ``one_device``, ``mirrored``, ``multi_worker``,
    ``tpu``; see :mod:`zoo.training.distribute`), ``batch_size`` is the global batch
    (split across replicas), ``lr_scaling="linear"`` multiplies the learning rate by
    the replicas, ``mixed_precision`` computes in float16 (GPU) or bfloat16.
    Recipe: ``warmup_epochs`` of the ``warmup_cosine`` / ``one_cycle`` schedules (None: their
    default fraction of the run), ``label_smoothing`` of the classifiers' cross-entropy,
    ``jit_compile`` (``"auto"``: Keras' choice, no XLA on a TensorFlow CPU; ``"on"``; ``"off"``).
    Fault tolerance: ``backup_every`` batches (and every epoch end) the state is
    saved; ``resume`` continues an interrupted run in the same run directory.
    Selection: ``select="best"`` keeps the weights of the epoch with the best validation
    measure (``best.weights.h5``), ``"last"`` those of the last epoch (no ``best.weights.h5`` is
    written, so evaluation and export use the last weights).
    """

    epochs: int = option(10)
    batch_size: int = option(128)
    lr: float = option(1e-3)
    optimizer: str = option(
        "adam",
        "sgd: Nesterov momentum 0.9; momentum: classical momentum 0.9; gd: plain gradient descent",
        choices=OPTIMIZERS,
    )
    schedule: str = option(
        "cosine",
        "warmup_cosine: linear warm-up (--warmup-epochs) then cosine to 0; one_cycle: lr/25 up to lr, then "
        "cosine to ~0; step: x0.1 at 50% and 75%; inverse_time: lr / (1 + epoch)",
        choices=SCHEDULES,
    )
    weight_decay: float = option(0.0)
    validation_split: float = option(
        0.1, "held-out fraction of train (stratified by class) for best-checkpoint selection"
    )
    select: str = option(
        "best",
        "weights the run keeps: the best epoch on validation (default) or the last epoch's",
        choices=SELECTIONS,
    )
    max_train_examples: int | None = option(None, "train on a subset (quick runs, few labels)")
    warmup_epochs: float | None = option(None, "warm-up of warmup_cosine / one_cycle (default: 5% / 30% of the run)")
    label_smoothing: float = option(0.0, "classifiers: smooth the targets by this much")
    augment: str = option(
        "auto",
        "auto: the data set's standard (crop+flip for CIFAR-10, none for MNIST); shift: random translation by "
        "2 px; crop_flip_cutout: crop+flip, then a random 16x16 square zeroed; crop_flip_cutout8: the same with "
        "an 8x8 square (lighter)",
        choices=AUGMENTS,
    )
    mix: str = option(
        "none",
        "classifiers: mix pairs of training images and their labels in each batch: mixup (blend), cutmix "
        "(paste a box), or mixup_cutmix (either, even odds per batch)",
        choices=MIXES,
    )
    mix_alpha: float = option(1.0, "mixing proportion ~ Beta(alpha, alpha) (--mix)")
    seed: int = _seed()
    deterministic: bool = option(False, "deterministic TensorFlow ops (same seed, same weights)")
    seq_length: int = option(100, "language models: characters per training window")
    sampling: str = option(
        "random",
        "language models: shuffled random windows, or sequential streams with the state carried over",
        choices=SAMPLINGS,
    )
    verbose: int | str = _verbose()
    strategy: str = option(
        "auto",
        "auto: multi_worker when TF_CONFIG names a cluster, mirrored with several GPUs, else one device; "
        "--batch-size is the global batch, split across replicas",
        choices=STRATEGIES,
        group=DISTRIBUTION,
    )
    lr_scaling: str = option("none", "linear: lr x number of replicas", choices=LR_SCALINGS, group=DISTRIBUTION)
    jit_compile: str = option(
        "auto",
        "classifiers: XLA-compile the train step (auto: Keras' choice, off on a TensorFlow CPU)",
        choices=tuple(JIT_COMPILE),
        group=DISTRIBUTION,
    )
    mixed_precision: bool = _mixed_precision()
    resume: bool = _resume()
    backup_every: int = _backup_every()

    def validate(self) -> None:
        require_positive_ints(self, "epochs", "batch_size", "seq_length")
        require_choice(self, "select", SELECTIONS)
        if self.max_train_examples is not None and self.max_train_examples < 1:
            raise ValueError(f"max_train_examples must be positive. Received: {self.max_train_examples}")
        require_choice(self, "strategy", STRATEGIES)
        require_choice(self, "lr_scaling", LR_SCALINGS)
        if self.warmup_epochs is not None and not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs={self.epochs}). Received: {self.warmup_epochs!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1). Received: label_smoothing={self.label_smoothing!r}")
        require_choice(self, "jit_compile", tuple(JIT_COMPILE))
        require_choice(self, "mix", MIXES)
        if not self.mix_alpha > 0:
            raise ValueError(f"mix_alpha must be positive. Received: mix_alpha={self.mix_alpha!r}")
        if not isinstance(self.backup_every, int) or self.backup_every < 0:
            raise ValueError(f"backup_every must be an integer >= 0. Received: backup_every={self.backup_every!r}")


@dataclasses.dataclass
class FinetuneConfig(TrainConfig):
    """Hyper-parameters of a fine-tuning run (every field but ``verbose``, ``seq_length`` and ``sampling``, which
    only language models use, is a flag of ``zoo finetune``).

    ``freeze`` is ``"backbone"`` (all but the head), ``"none"`` or ``"until:LAYER"`` (LAYER and every
    layer before it); with ``two_stage`` it says what stays frozen after the head-only stage.
    """

    epochs: int = option(10)
    schedule: str = option(
        "two_stage",
        "two_stage: train the head with the backbone frozen, then unfreeze at a lower lr",
        choices=FINETUNE_SCHEDULES,
    )
    seq_length: int = not_a_flag(100)
    sampling: str = not_a_flag("random")
    freeze: str = option(
        "none",
        "layers kept frozen (after the head-only stage of two_stage): backbone = all but the head; "
        "until:LAYER = LAYER and everything before it (zoo info NAME --layers lists them)",
        metavar="backbone|none|until:LAYER",
    )
    head_epochs: int | None = option(None, "two_stage: epochs of the head-only stage (default: half)")
    unfreeze_lr_scale: float = option(0.1, "two_stage: lr of the unfrozen stage = lr x this")
    num_classes: int | None = option(None, "classes of the new head (default: the data set's)")
    train_batchnorm: bool = option(
        False, "let unfrozen BatchNormalization layers update their statistics (default: inference mode)"
    )
    head_init: str = option(
        "probe",
        "how the new head starts: probe = a logistic regression fitted on the pretrained backbone's features of "
        "the training images before the first stage (LP-FT); random = Keras' initialiser",
        choices=HEAD_INITS,
    )

    def validate(self) -> None:
        super().validate()
        require_choice(self, "schedule", FINETUNE_SCHEDULES)
        require_choice(self, "head_init", HEAD_INITS)
        if self.freeze not in ("backbone", "none") and not self.freeze.startswith("until:"):
            raise ValueError(f"freeze must be 'backbone', 'none' or 'until:LAYER'. Received: freeze={self.freeze!r}")
        if self.schedule == "two_stage":
            self._validate_two_stage()
        if not 0 < self.unfreeze_lr_scale <= 1:
            raise ValueError(f"unfreeze_lr_scale must be in (0, 1]. Received: {self.unfreeze_lr_scale}")
        if self.num_classes is not None and (not isinstance(self.num_classes, int) or self.num_classes < 2):
            raise ValueError(f"num_classes must be an integer >= 2. Received: num_classes={self.num_classes!r}")

    def _validate_two_stage(self) -> None:
        """The ``two_stage`` schedule needs an unfrozen second stage and room for both stages."""
        if self.freeze == "backbone":
            raise ValueError(
                "two_stage unfreezes the backbone after training the head; with freeze='backbone' "
                "use a one-stage schedule ('constant' or 'cosine') to train the head alone."
            )
        if self.epochs < 2:
            raise ValueError(f"two_stage needs epochs >= 2 (head, then unfrozen). Received: epochs={self.epochs}")
        if self.head_epochs is not None and not 1 <= self.head_epochs < self.epochs:
            raise ValueError(
                f"head_epochs must be in [1, epochs). Received: head_epochs={self.head_epochs}, epochs={self.epochs}"
            )


def _zero_mixing_from_flag(value: float) -> float | None:
    """``--zero-mixing 0`` (or less) learns pi_0 (``zero_mixing=None``)."""
    return None if value <= 0 else value


def _method_from_flag(spelling: str) -> str:
    """``--method weight-decay`` -> ``"weight_decay"``."""
    return spelling.replace("-", "_")


@dataclasses.dataclass
class CompressConfig:
    """Hyper-parameters of a compression run (most are ``zoo compress`` flags).

    Defaults follow Ullrich et al. (2017) and their tutorial: 17 components with
    a zero component at pi_0 = 0.99, Gamma(250, 0.1) on the precisions, Adam at
    5e-4 for the weights with the means at 0.2x and the variances and mixing
    proportions at 6x that rate, ``tau = 5e-3`` against the whole training set.

    ``sharpen_epochs > 0`` continues the retraining for that many epochs with the
    Gamma hyperprior's mode moved from 0.02 to ``sharpen_std``: the components
    narrow and pull their weights onto the means while the network adapts, so
    quantising them afterwards costs less accuracy. It starts a new Adam, with
    its own learning-rate schedule over the sharpening epochs.

    ``finetune_epochs > 0`` adds Han et al.'s (2016) trained quantisation after
    the quantisation: the shared values (not the codes) are fine-tuned on the
    data, at ``finetune_lr``, so the compressed size is unchanged.

    ``method="weight_decay"`` is the baseline without the prior: the weights
    retrain with (decoupled) ``weight_decay`` only, while the same mixture is
    fitted to them and used for the same quantisation.
    """

    epochs: int = option(30, "retraining epochs under the prior")
    batch_size: int = option(256)
    lr: float = option(5e-4, "Adam learning rate of the weights")
    schedule: str = option(
        "constant",
        "learning-rate schedule over the retraining (the prior's rates follow it)",
        choices=COMPRESS_SCHEDULES,
    )
    components: int = option(17, "mixture components, the zero component included")
    tau: float = option(5e-3, "weight of the prior against the data set's log-likelihood")
    init_std: float = option(0.25, "initial standard deviation of every component")
    zero_mixing: float | None = option(
        0.99, "fixed pi_0 of the zero component; 0 learns it", from_flag=_zero_mixing_from_flag
    )
    gamma_prior: tuple[float, float] | None = not_a_flag((250.0, 0.1))
    means_lr_multiplier: float = not_a_flag(0.2)
    variance_lr_multiplier: float = not_a_flag(6.0)
    mixing_lr_multiplier: float = not_a_flag(6.0)
    merge_kl: float = option(1e-2, "merge components closer than this symmetric KL")
    sharpen_epochs: int = option(
        0,
        "then retrain this many more epochs with the components narrowed to --sharpen-std, which pulls the "
        "weights onto the means and makes quantising them cheaper",
    )
    sharpen_std: float = option(5e-3, "component standard deviation while sharpening")
    finetune_epochs: int = option(
        0, "after quantising, fine-tune the shared values (codes fixed; Han et al.'s trained quantisation)"
    )
    finetune_lr: float = option(1e-4)
    method: str = option(
        "sws",
        "weight-decay: the baseline without the prior (same mixture fit and quantisation)",
        choices=tuple(m.replace("_", "-") for m in METHODS),
        from_flag=_method_from_flag,
    )
    weight_decay: float = option(0.0, "decoupled weight decay of the network's weights")
    max_train_examples: int | None = option(None)
    seed: int = _seed()
    verbose: int | str = _verbose()
    strategy: str = option(
        "auto",
        "tf.distribute strategy of the retraining (see zoo train --help)",
        choices=STRATEGIES,
        group=DISTRIBUTION,
    )
    mixed_precision: bool = _mixed_precision()
    resume: bool = _resume()
    backup_every: int = _backup_every()

    def validate(self) -> None:
        require_positive_ints(self, "epochs", "batch_size", "components")
        if not isinstance(self.backup_every, int) or self.backup_every < 0:
            raise ValueError(f"backup_every must be an integer >= 0. Received: backup_every={self.backup_every!r}")
        require_choice(self, "strategy", STRATEGIES)
        require_choice(self, "schedule", SCHEDULES)
        if self.method not in METHODS:
            raise ValueError(f"method must be 'sws' or 'weight_decay'. Received: {self.method!r}")
        if self.sharpen_epochs < 0 or self.sharpen_std <= 0:
            raise ValueError(
                f"sharpen_epochs must be >= 0 and sharpen_std > 0. Received: "
                f"sharpen_epochs={self.sharpen_epochs}, sharpen_std={self.sharpen_std}"
            )
        if self.finetune_epochs < 0 or self.finetune_lr <= 0:
            raise ValueError(
                f"finetune_epochs must be >= 0 and finetune_lr > 0. Received: "
                f"finetune_epochs={self.finetune_epochs}, finetune_lr={self.finetune_lr}"
            )
        if self.lr <= 0 or self.tau < 0 or self.merge_kl < 0 or self.weight_decay < 0:
            raise ValueError(
                f"lr must be > 0, tau and merge_kl >= 0. Received: lr={self.lr}, tau={self.tau}, "
                f"merge_kl={self.merge_kl}"
            )
