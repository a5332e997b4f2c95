"""TrialConfig: everything one candidate needs to train, prune and report. Part of the contract.

A trial config is written by the search (local engine or operator) as JSON with camelCase keys and
read by ``hyperprune trial --config TRIAL.json``. ``training.epochs`` is the full training length and
the horizon of every schedule (learning rate, gradual pruning, death-rate annealing): a trial told to
stop at an earlier epoch and continued later follows exactly the same trajectory as one run straight
through.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from hyperprune.contract.document import Issue, Model
from hyperprune.contract.efficiency import EfficiencyConfig
from hyperprune.contract.pruning import DensePruning, PruningConfig
from hyperprune.contract.report import MetricName, Mode

SYNTHETIC_MAX_TOKENS = 1_000_000
SYNTHETIC_MAX_VOCAB = 10_000

Corpus = Literal["synthetic", "ptb", "wikitext", "text", "digits"]
Arch = Literal["rnn_tanh", "rnn_relu", "gru", "lstm", "rhn"]


class SplitFiles(Model):
    """Explicit file names (relative to ``data.path``) for the splits, overriding the corpus layout.
    A split without a file is cut from the end of the training text (see ``DataConfig.holdout``)."""

    train: str = Field(min_length=1)
    valid: str | None = None
    test: str | None = None


class DataConfig(Model):
    """Where the data comes from. ``digits`` makes the task sequence classification; the rest are
    language modelling at word or character level."""

    corpus: Corpus = Field("synthetic", description="synthetic (built in), ptb, wikitext, text (any folder of .txt), digits")
    level: Literal["word", "char"] = Field("word", description="tokenise into words or characters")
    path: str | None = Field(None, description="data directory (required for ptb, wikitext, text)")
    files: SplitFiles | None = Field(None, description="file per split inside 'path', overriding the corpus layout")
    holdout: float = Field(
        0.05, gt=0.0, lt=0.5, description="fraction of the training text cut from its end for each split without a file"
    )
    min_count: PositiveInt = Field(1, description="training-split tokens seen fewer times become <unk>")
    max_vocab: int | None = Field(
        None, ge=3, description="keep only the most frequent tokens (<eos> and <unk> included); the rest become <unk>"
    )
    # Every trial generates the synthetic corpus when it starts (about 6 s per million tokens and
    # 1 s per 15,000 words on one core): the bounds keep that from running for minutes unseen.
    synthetic_tokens: PositiveInt = Field(60_000, le=SYNTHETIC_MAX_TOKENS, description="size of the built-in synthetic corpus")
    synthetic_vocab: int = Field(200, ge=8, le=SYNTHETIC_MAX_VOCAB, description="vocabulary of the built-in synthetic corpus")
    synthetic_seed: int = Field(
        1234, ge=0, description="seed of the built-in corpus (fixed, so every trial of a search sees the same text)"
    )

    @model_validator(mode="after")
    def _needs_path(self) -> DataConfig:
        if self.corpus in ("ptb", "wikitext", "text") and not self.path:
            raise ValueError(f"corpus '{self.corpus}' needs a data directory in 'path'")
        if self.corpus in ("synthetic", "digits") and (self.path or self.files):
            raise ValueError(f"corpus '{self.corpus}' is built in and takes no 'path' or 'files'")
        return self

    @property
    def task(self) -> Literal["language_model", "classification"]:
        return "classification" if self.corpus == "digits" else "language_model"

    @property
    def metric(self) -> MetricName:
        """What a trial on this data reports: accuracy (classification) or perplexity (language models)."""
        return "accuracy" if self.task == "classification" else "perplexity"

    @property
    def mode(self) -> Mode:
        """max: higher is better (accuracy); min: lower is better (perplexity)."""
        return "max" if self.task == "classification" else "min"


class ModelConfig(Model):
    arch: Arch = Field("lstm", description="recurrent core")
    hidden_size: PositiveInt = 64
    num_layers: PositiveInt = Field(1, description="stacked recurrent layers")
    embedding_size: PositiveInt | None = Field(None, description="defaults to hidden_size")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on embeddings, between layers and before the decoder")
    tie_weights: bool = Field(False, description="share embedding and decoder weights (needs embedding_size == hidden_size)")
    rhn_depth: PositiveInt = Field(3, description="micro-steps per time step (arch=rhn)")


# package.module:function (or :Class.method), as Python entry points are written.
ENTRY_POINT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
# A module's path in a model, as torch names it (nn.Module.named_modules): encoder.rnn, layers.0.
MODULE_PATH_PATTERN = r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$"


class TaskConfig(Model):
    """The user's own recurrent model and data: a function that the trial imports and calls with its
    seed, device and ``params``, and that returns a ``hyperprune.task.Task`` (docs/tasks.md). The
    control side only checks how it is written: importing the user's code is the trial's job (and
    ``hyperprune validate``'s, in a separate process)."""

    entry_point: str = Field(
        description="package.module:function returning a hyperprune.task.Task; importable where trials run",
        json_schema_extra={"pattern": ENTRY_POINT_PATTERN},
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="the entry point's own settings (JSON values), passed as ctx.params"
    )
    metric: MetricName = Field(
        description="the name of the metric the entry point's Task computes (its Metric.name), e.g. mae"
    )
    mode: Mode = Field(description="min: lower is better (an error); max: higher is better (an accuracy)")
    recurrent_layers: list[str] | None = Field(
        None,
        min_length=1,
        description="module paths (as model.named_modules() names them) to prune and measure; null = every recurrent layer",
    )

    @field_validator("entry_point")
    @classmethod
    def _entry_point(cls, value: str) -> str:
        if not re.fullmatch(ENTRY_POINT_PATTERN, value):
            raise ValueError(f"{value!r} is not an entry point: write package.module:function (e.g. forecast.task:make_task)")
        return value

    @field_validator("recurrent_layers")
    @classmethod
    def _layer_paths(cls, layers: list[str] | None) -> list[str] | None:
        for i, name in enumerate(layers or []):
            if not re.fullmatch(MODULE_PATH_PATTERN, name):
                raise ValueError(f"[{i}] {name!r} is not a module path such as encoder.rnn")
            if name in (layers or [])[:i]:
                raise ValueError(f"[{i}] {name!r} is listed twice")
        return layers


class TrainingConfig(Model):
    epochs: PositiveInt = Field(10, description="full training length; horizon of every schedule")
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = Field(1.0, gt=0.0)
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    lr_schedule: Literal["constant", "cosine", "step"] = "constant"
    lr_step_epochs: PositiveInt = Field(5, description="epochs between decays (lr_schedule=step)")
    lr_gamma: float = Field(0.5, gt=0.0, le=1.0, description="decay factor (lr_schedule=step)")
    batch_size: PositiveInt = 20
    bptt: PositiveInt = Field(35, description="truncated back-propagation length (language models)")
    clip: float | None = Field(0.25, gt=0.0, description="gradient-norm clipping; null to disable")
    max_batches: PositiveInt | None = Field(None, description="cap on training batches per epoch (quick runs)")
    eval_batch_size: PositiveInt = 10
    eval_max_batches: PositiveInt | None = Field(
        None, description="cap on evaluation batches per split (quick runs); null = the whole split"
    )


class LyapunovBase(Model):
    """How a trial computes its spectra; the search spec's ``lyapunov`` section is this plus the
    distance, and a trial's config is this plus the epochs the strategy chose."""

    probe_length: PositiveInt = Field(35, description="time steps averaged into the exponents (after warm-up)")
    warmup: int = Field(10, ge=0, description="time steps run before averaging starts")
    k: PositiveInt | None = Field(None, description="number of leading exponents; null = the whole spectrum")
    batch: PositiveInt = Field(4, description="probe sequences from the validation split; exponents are averaged over them")
    state: Literal["full", "hidden"] = Field(
        "full", description="LSTM state: full = (h, c), exact; hidden = h only with c held fixed (as published)"
    )
    dtype: Literal["float32", "float64"] = "float64"


class LyapunovConfig(LyapunovBase):
    epochs: list[PositiveInt] | None = Field(None, description="epochs at which to compute it; null = every epoch")


class TrialConfig(Model):
    trial_id: str = Field("trial", min_length=1)
    seed: int = Field(0, ge=0, description="seeds weight init, data order, dropout and pruning")
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    pruning: PruningConfig = DensePruning()
    lyapunov: LyapunovConfig = LyapunovConfig()
    efficiency: EfficiencyConfig = EfficiencyConfig()
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = CUDA when available, else CPU")
    evaluate_test: bool = Field(True, description="evaluate the test split after the last epoch")
    task: TaskConfig | None = Field(
        None, description="the user's own model and data (an entry point); null = the built-in model and data"
    )
    tensorboard: bool = Field(
        False, description="write TensorBoard event files to DIR/tensorboard every epoch (the tensorboard extra)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> TrialConfig:
        issues = lyapunov_issues(self.lyapunov, None if self.task else self.model, self.training)
        if self.task is None:
            issues += model_issues(self.model, self.data)
        else:
            issues += task_issues(data_given=self.data != DataConfig(), model_given=self.model != ModelConfig())
        late = [e for e in self.efficiency.epochs if e > self.training.epochs]
        if late:
            issues.append(("efficiency.epochs", f"{late} are after the last epoch (training.epochs={self.training.epochs})"))
        if issues:
            raise ValueError("; ".join(f"{path}: {message}" for path, message in issues))
        return self

    @property
    def metric(self) -> MetricName:
        """What the trial reports: the task's own metric, or the built-in data's."""
        return self.task.metric if self.task else self.data.metric

    @property
    def mode(self) -> Mode:
        return self.task.mode if self.task else self.data.mode


# ---- rules that span sections -------------------------------------------------------------------
# Each rule lives here once. A TrialConfig checks them on itself; the search spec runs the same
# functions on its own sections (prefixing the paths with ``spec.``), so a search whose trials would
# be refused is refused before any trial starts.


RHN_LAYERS = "an RHN has one layer of depth model.rhnDepth (set numLayers to 1 and deepen the transition with rhnDepth)"


def state_size(model: ModelConfig, state: Literal["full", "hidden"]) -> int:
    """Dimension of the recurrent state the spectrum is computed on: every layer's hidden units,
    twice for an LSTM's full (h, c) state."""
    per_unit = 2 if (model.arch == "lstm" and state == "full") else 1
    return model.num_layers * model.hidden_size * per_unit


def model_issues(model: ModelConfig, data: DataConfig | None = None) -> list[Issue]:
    """Settings of the model that cannot be built (for this data, when given)."""
    issues: list[Issue] = []
    if model.arch == "rhn" and model.num_layers != 1:
        issues.append(("model.numLayers", RHN_LAYERS))
    if model.tie_weights:
        if data is not None and data.task == "classification":
            issues.append(("model.tieWeights", "a sequence classifier has no embedding to tie; set it to false"))
        elif (model.embedding_size or model.hidden_size) != model.hidden_size:
            issues.append(("model.tieWeights", "tied weights need model.embeddingSize equal to model.hiddenSize"))
    return issues


# Training settings only the built-in data reads: a task's own loaders decide its batches.
BUILT_IN_TRAINING = {"batch_size": "batchSize", "bptt": "bptt", "eval_batch_size": "evalBatchSize"}


def task_issues(*, data_given: bool, model_given: bool, training_set: frozenset[str] = frozenset()) -> list[Issue]:
    """Settings that cannot apply when a task's entry point supplies the model and the data: the
    built-in data and model, and the training settings only the built-in data reads (``training_set``:
    the training fields set to other values than their defaults)."""
    issues: list[Issue] = []
    if data_given:
        issues.append(("data", "the task's entry point supplies the data; remove data (pass settings in task.params)"))
    if model_given:
        issues.append(("model", "the task's entry point supplies the model; remove model (pass settings in task.params)"))
    for name in sorted(training_set & BUILT_IN_TRAINING.keys()):
        issues.append(
            (f"training.{BUILT_IN_TRAINING[name]}", "only the built-in data reads it; the task's own loaders decide its batches")
        )
    return issues


def lyapunov_issues(lyapunov: LyapunovBase, model: ModelConfig | None, training: TrainingConfig) -> list[Issue]:
    """Spectrum settings the model or the training length cannot honour (``model`` None: a task's own
    model, whose state size only the trial knows)."""
    issues: list[Issue] = []
    if isinstance(lyapunov, LyapunovConfig) and lyapunov.epochs is not None:
        late = [e for e in lyapunov.epochs if e > training.epochs]
        if late:
            issues.append(("lyapunov.epochs", f"{late} are after the last epoch (training.epochs={training.epochs})"))
    if lyapunov.k is not None and model is not None:
        size = state_size(model, lyapunov.state)
        if lyapunov.k > size:
            issues.append(("lyapunov.k", f"{lyapunov.k} exponents requested but the model's state has {size}"))
    return issues
