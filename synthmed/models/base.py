"""The small base every synthesizer shares: fit, sample, save, load, parameter_counts.

A model supplies only three pieces (build its networks from the column layout, train them, generate
matrix rows), and two more if it trains privately (a privacy plan and a private loop); validation, schema,
transforms, seeding, progress, the privacy accounting and the artifact live here once. docs/adding-a-model.md
walks through them.
"""

from __future__ import annotations

import hashlib
import inspect
import platform
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
import torch
from scipy import sparse
from torch import nn

from synthmed.data.database import DatabaseTable
from synthmed.data.inference import infer_schema
from synthmed.data.io import Decimal, ReadOptions, is_table_source
from synthmed.data.layout import ColumnLayout
from synthmed.data.rare import apply_rare_policy, note_rare_categories
from synthmed.data.rules import check_training_rows
from synthmed.data.schema import ColumnKind, Schema
from synthmed.data.sparse import SparseCodeMatrix, content_bytes, sparse_source
from synthmed.data.transform import TableTransformer
from synthmed.data.validate import validate_table
from synthmed.errors import ArtifactError, ConfigError, DataError, NotFittedError, SynthmedError
from synthmed.models import distributed
from synthmed.models.artifact import DAMAGED_REMEDY, META_NAME, read_artifact, write_artifact
from synthmed.models.checkpoint import Checkpointer
from synthmed.models.conditions import Given, SamplingPlan
from synthmed.models.dp import PrivacyBudget, PrivacyPlan, PrivateTraining, check_declared_domains
from synthmed.models.monitor import (
    FidelityReference,
    Reference,
    TrainingMonitor,
    check_monitor_options,
    monitor_rows,
)
from synthmed.models.registry import ENTRIES, MODELS, DataKind, get_model_class
from synthmed.models.sparse_rows import SparseRows, code_transformer, decode_codes, scaled_values
from synthmed.models.training import TrainingRun, flushing_denormals
from synthmed.version import __version__

DataLike = pd.DataFrame | np.ndarray | str | Path | DatabaseTable | SparseCodeMatrix
# rows generated at once by `sample_blocks` (what `synthmed sample` writes block by block)
SAMPLE_BLOCK = 50_000
# values generated at once for a sparse sample (64 MiB of float32): 3,355 rows of a 5,000-code matrix
SPARSE_SAMPLE_VALUES = 2**24


def _fingerprint(matrix: np.ndarray | sparse.csr_array) -> str:
    """What identifies the training matrix: its bytes (a sparse one's shape, positions and values)."""
    digest = hashlib.sha256()
    if sparse.issparse(matrix):
        for part in content_bytes(matrix):
            digest.update(part)
    else:
        digest.update(matrix.tobytes())
    return "sha256:" + digest.hexdigest()


def _check_rows(n: Any) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ConfigError(
            "the number of rows to sample must be a positive integer", values=[n], remedy="ask for 1 row or more"
        )


# Generated rows that estimate the generator's marginals for calibration (`_calibrate_marginals`).
CALIBRATION_ROWS = 20_000


def _versions() -> dict[str, str]:
    return {
        "synthmed": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }


def _check_type(name: str, value: Any, annotation: Any, remedy: str) -> Any:
    """Check one hyperparameter against its annotation; return it normalised (lists -> tuples)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (annotation,) = [a for a in args if a is not type(None)]
        return _check_type(name, value, annotation, remedy)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"hyperparameter {name!r} must be one of {list(args)}", values=[value], remedy=remedy)
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple) or not value:
            raise ConfigError(f"hyperparameter {name!r} must be a non-empty list", values=[value], remedy=remedy)
        return tuple(_check_type(name, item, args[0], remedy) for item in value)
    valid = {
        int: isinstance(value, int | np.integer) and not isinstance(value, bool),
        float: isinstance(value, int | float | np.number) and not isinstance(value, bool),
        bool: isinstance(value, bool),
        str: isinstance(value, str),
    }[annotation]
    if not valid:
        raise ConfigError(f"hyperparameter {name!r} must be {annotation.__name__}", values=[value], remedy=remedy)
    return annotation(value)


def _without_timings(history: dict[str, Any]) -> dict[str, Any]:
    """The training history as saved: every record but its wall-clock seconds, which differ run to run."""
    return {
        phase: [{k: v for k, v in record.items() if k != "seconds"} for record in records]
        if isinstance(records, list)
        else records
        for phase, records in history.items()
    }


def _load_weights(
    path: str | Path, name: str, network: nn.Module, state: dict[str, torch.Tensor], shipped: tuple[str, ...]
) -> None:
    """Load one network's saved weights (those whose `name.key` starts with one of `shipped`), naming the first
    tensor that does not fit instead of torch's dump. Training-only weights in a file (written before they stopped
    shipping) are left unread; the parts of the network they belong to keep their seeded initial values."""
    every = network.state_dict()
    expected = {key: value for key, value in every.items() if f"{name}.{key}".startswith(shipped)}
    state = {key: value for key, value in state.items() if key in expected or key not in every}
    absent = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    misfit = [key for key in expected if key in state and tuple(state[key].shape) != tuple(expected[key].shape)]
    if absent or extra or misfit:
        if misfit:
            key = misfit[0]
            detail = (
                f"{name}.{key} has shape {tuple(state[key].shape)} where the network {META_NAME} describes needs "
                f"{tuple(expected[key].shape)}"
            )
        else:
            detail = f"{name}.{(absent or extra)[0]} is {'missing' if absent else 'unexpected'}"
        raise ArtifactError(
            f"{str(path)!r} is damaged: its weights do not fit its {META_NAME} ({detail})", remedy=DAMAGED_REMEDY
        )
    network.load_state_dict(state, strict=len(expected) == len(every))


class Synthesizer(ABC):
    """Base class: a generative model of a table, in scikit-learn style.

    Hyperparameters are the typed keyword arguments of each subclass's `__init__`, stored unchanged;
    everything learned by `fit` ends in `_`.
    """

    name: ClassVar[str]  # the CLI name; the registry (models/registry.py) says what data the model learns
    # The weights generation reads, as prefixes of "network.key": only these ship in a saved generator. A critic,
    # discriminator or encoder reads real records and scores or encodes them, a membership test of a record in the
    # wrong hands, so it stays where training ran ("" ships every network).
    generation_weights: ClassVar[tuple[str, ...]] = ("",)
    # hyperparameters that must be strictly positive (the others that are numbers must be >= 0)
    positive: ClassVar[frozenset[str]] = frozenset({"batch_size"})

    # whether the model trains on batches, so a sparse code matrix stays sparse (data/sparse.py) and each batch is
    # densified on the device (models/sparse_rows.py); other models train on its dense table
    sparse_batches: ClassVar[bool] = False

    seed: int | None
    device: str
    # whether the model trains (or was trained) under differential privacy: it then builds other transforms and
    # networks. False until a private `fit` starts; `privacy_` holds that fit's accounting.
    private_: bool = False
    # how the model was chosen when a command chose it (`auto`, a preset): saved in model.json as "selection"
    selection_: dict[str, Any] | None = None

    # ---- pieces a model supplies -------------------------------------------------------------------
    @abstractmethod
    def _build(self, layout: ColumnLayout) -> dict[str, nn.Module]:
        """Create the networks for a matrix with this layout (weights initialised from the seed)."""

    @abstractmethod
    def _train(self, data: torch.Tensor, run: TrainingRun) -> None:
        """Train `self.networks_` on the encoded training matrix."""

    @abstractmethod
    def _generate(self, n: int, run: TrainingRun) -> torch.Tensor:
        """Return `n` rows in matrix space (after the layout's output activations)."""

    # ---- differential privacy: a model that trains privately supplies a plan and a loop -----------
    def _privacy_plan(self, data: torch.Tensor) -> PrivacyPlan:
        """The phases of a private fit that read real records (Poisson batch, planned steps) and what the model
        changes to train privately. Planned before training, so that the noise spends exactly the budget."""
        raise NotImplementedError

    def _train_privately(self, data: torch.Tensor, run: TrainingRun, private: PrivateTraining) -> None:
        """Train `self.networks_` with DP-SGD: every network that reads real records trains inside
        `private.training(phase, network, optimizer)`, and takes no step beyond the plan."""
        raise NotImplementedError

    @classmethod
    def data_kind(cls) -> DataKind:
        """ "table" or "sequences", as the registry declares; a model outside the registry learns tables."""
        entry = ENTRIES.get(cls.name)
        return entry.data if entry is not None else "table"

    @classmethod
    def learns(cls, kind: DataKind) -> bool:
        """Whether the model can be fitted on data of this kind (its own, unless it reads others too)."""
        return kind == cls.data_kind()

    def generates(self) -> DataKind:
        """The kind of data this fitted model samples (its own kind, unless what it was fitted on says otherwise)."""
        return self.data_kind()

    @classmethod
    def trains_privately(cls) -> bool:
        """Whether the model supports `fit(..., dp_epsilon=...)`."""
        return cls._train_privately is not Synthesizer._train_privately

    def _model_schema(self, schema: Schema, table: pd.DataFrame) -> Schema:
        """Adjust inferred column kinds to what this model learns (declared columns stay as declared)."""
        return schema

    def _transformer(self, schema: Schema) -> TableTransformer:
        """How this model's matrix encodes the table (min-max numbers unless a model needs otherwise)."""
        return TableTransformer(schema, binary_shares=self._calibrated_rounding)

    @property
    def _calibrated_rounding(self) -> bool:
        """Whether binary columns round at thresholds that give them their shares (medGAN's and corGAN's
        `binary_rounding="calibrated"`), which the transformer then keeps."""
        return getattr(self, "binary_rounding", None) == "calibrated"

    def _decode_stochastically(self) -> bool:
        """Whether binary/categorical outputs are drawn (True) or rounded (False) when decoding."""
        return True

    def _generates_one_hot(self) -> bool:
        """Whether `_generate` chooses each categorical span's category itself (exactly one 1 per span and row)."""
        return False

    def _decoded(self, matrix: np.ndarray, run: TrainingRun) -> pd.DataFrame:
        """Generated rows -> a table, drawn or rounded (`_decode_stochastically`)."""
        rng = run.rng if self._decode_stochastically() else None
        return self.transformer_.inverse_transform(matrix, rng, one_hot=self._generates_one_hot())

    def _generate_given(self, n: int, run: TrainingRun, given: Given) -> torch.Tensor | None:
        """`n` rows (as `_generate`) whose columns in `given` hold the given categories, or None.

        `given` maps a column to an index in its encoder's `categories_` (a categorical's missing slot is
        `len(categories_)`). None, the default, means "not supported": `sample` then filters unconditioned
        rows (rejection). A model with a conditional generator overrides this to condition exactly.
        """
        return None

    # ---- data handling: a table by default; a model whose data is not a flat table overrides these ----
    def _prepare(
        self, data: Any, schema: Schema | str | Path | None, reading: ReadOptions
    ) -> np.ndarray | sparse.csr_array:
        """Validate the data, learn `schema_` and `transformer_`; return the float32 training matrix."""
        codes = sparse_source(data) if self.sparse_batches else None
        if codes is not None:
            return self._prepare_sparse(codes, schema)
        table, self.input_format_ = self._as_table(data, reading)
        declared = Schema.load(schema) if isinstance(schema, str | Path) else schema
        table = validate_table(table, declared, reading.decimal)
        inferred = infer_schema(table, declared)
        table = apply_rare_policy(table, inferred)
        note_rare_categories(table, inferred)  # judged as `evaluate` judges them, before a model's own encodings
        self.schema_ = self._model_schema(inferred, table)
        if not self.schema_.modelled:
            raise DataError(
                "no column is left to model: every column is an identifier",
                remedy="declare at least one column's kind in a schema",
            )
        self.transformer_ = self._transformer(self.schema_).fit(table, public_missingness=self.private_)
        check_training_rows(table, self.transformer_)
        if self.private_:
            check_declared_domains(self.transformer_.to_dict())
        return self.transformer_.transform(table, dtype=np.float32)

    def _prepare_sparse(self, codes: SparseCodeMatrix, schema: Schema | str | Path | None) -> sparse.csr_array:
        """A sparse code matrix as the model learns it: every code a column of `_sparse_kind`, kept sparse."""
        refused = [
            (
                schema is not None,
                "a sparse code matrix has no schema to declare: every code is a binary or count column",
            ),
            (self.private_, "differentially private training reads declared domains, which a sparse matrix lacks"),
            (len(codes) == 0, "the sparse code matrix has no rows"),
        ]
        for found, why in refused:
            if found:
                raise ConfigError(why, remedy="train on the dense table (ehr-matrix without --sparse) for this")
        kind = self._sparse_kind(codes)
        self.input_format_ = "sparse"
        self.schema_ = codes.schema(kind)
        self.transformer_ = code_transformer(codes, kind, keep_shares=self._calibrated_rounding)
        return scaled_values(codes, self.transformer_)

    def _sparse_kind(self, codes: SparseCodeMatrix) -> ColumnKind:
        """The kind a sparse matrix's codes are learnt as: counts when it holds counts, else binary."""
        return ColumnKind.COUNT if codes.counts else ColumnKind.BINARY

    def _sparse_sample(self, n: int, run: TrainingRun) -> SparseCodeMatrix:
        """`n` generated rows of a model fitted on a sparse matrix, densified a few at a time and kept sparse."""
        width = self.transformer_.layout_.width
        chunk = max(1, SPARSE_SAMPLE_VALUES // width)
        rng = run.rng if self._decode_stochastically() else None
        blocks = [
            decode_codes(self._generate_in_eval(min(chunk, n - start), run).cpu().numpy(), self.transformer_, rng)
            for start in range(0, n, chunk)
        ]
        return SparseCodeMatrix(sparse.vstack(blocks, format="csr"), tuple(self.transformer_.columns))

    def _to_output(self, matrix: np.ndarray, run: TrainingRun) -> pd.DataFrame | np.ndarray:
        """Generated matrix -> what `sample` returns (a table, or an array if fitted on one)."""
        table = self._decoded(matrix, run)
        return table.to_numpy() if self.input_format_ == "array" else table

    def _load_transform(self, meta: dict[str, Any]) -> None:
        """Restore `schema_` and `transformer_` from a saved generator's metadata."""
        self.schema_ = Schema.from_dict(meta["schema"], declared=False)
        self.transformer_ = TableTransformer.from_dict(meta["transformer"], self.schema_)

    # ---- hyperparameters ---------------------------------------------------------------------------
    @classmethod
    def hyperparameters(cls) -> dict[str, inspect.Parameter]:
        return dict(list(inspect.signature(cls.__init__).parameters.items())[1:])

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.hyperparameters()}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Self:
        """Build from a mapping (CLI, artifacts); unknown names are an error that lists the valid ones."""
        valid = cls.hyperparameters()
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ConfigError(
                f"unknown hyperparameter for {cls.name}",
                values=unknown,
                remedy=f"valid names: {', '.join(valid)}",
            )
        return cls(**params)

    def _check_params(self) -> None:
        hints = typing.get_type_hints(type(self).__init__)
        remedy = f"see help(synthmed.models.{type(self).__name__}) for each hyperparameter's type and default"
        for name, value in self.get_params().items():
            value = _check_type(name, value, hints[name], remedy)
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            if is_number and (value <= 0 if name in self.positive else value < 0):
                bound = "> 0" if name in self.positive else ">= 0"
                raise ConfigError(f"hyperparameter {name!r} must be {bound}", values=[value], remedy=remedy)
            setattr(self, name, value)
        self._device()

    def _device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            device = torch.device(self.device)
        except RuntimeError:
            raise ConfigError("unknown device", values=[self.device], remedy="use auto, cpu or cuda") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(
                "CUDA was requested but is not available", values=[self.device], remedy="use device='cpu' (or 'auto')"
            )
        return device

    # ---- the public API ----------------------------------------------------------------------------
    def fit(
        self,
        data: DataLike,
        *,
        schema: Schema | str | Path | None = None,
        na_values: list[str] | None = None,
        encoding: str | None = None,
        decimal: Decimal | None = None,
        progress: bool = True,
        checkpoint: str | Path | None = None,
        checkpoint_every: int = 10,
        monitor_every: int | None = None,
        keep_best: bool = False,
        dp_epsilon: float | None = None,
        dp_delta: float | None = None,
    ) -> Self:
        """Validate the data, learn its schema and transform, then train.

        `data` is a DataFrame, a 2-D array (binary or count matrix) or a CSV/Parquet path. Everything that
        can be wrong with the data or the hyperparameters is reported before training starts. With
        `checkpoint` (a folder), training state is saved every `checkpoint_every` epochs and a later `fit`
        with the same data, hyperparameters and folder resumes where it stopped, with identical results.
        With `monitor_every` (K), the generating phase scores generated rows every K epochs (column fidelity,
        correlation difference: see models/monitor.py) into `history_["monitor"]`; `keep_best` then keeps
        the weights of the best-scoring check. Off by default: the monitor reads the training data.
        With `dp_epsilon` (and optionally `dp_delta`), training is (epsilon, delta)-differentially private
        (see models/dp.py); every column's domain must then come from `schema`, not from the data.
        """
        self._check_params()
        check_monitor_options(monitor_every, keep_best)
        if dp_delta is not None and dp_epsilon is None:
            raise ConfigError("dp_delta is part of a privacy budget", remedy="also give dp_epsilon (--dp-epsilon)")
        budget = None if dp_epsilon is None else PrivacyBudget(dp_epsilon, dp_delta)
        if budget is not None:
            self._check_private_options(budget, monitor_every, checkpoint)
        if distributed.launched() is not None:
            self._check_distributed_options(budget, monitor_every, checkpoint)
        self.__dict__.pop("history_", None)  # a failed refit must not leave a half-trained model usable
        self.private_ = budget is not None  # models that train privately build other transforms and networks
        self.privacy_ = None
        matrix = self._prepare(data, schema, ReadOptions(na_values, encoding, decimal))
        self.fingerprint_ = _fingerprint(matrix)
        self.n_rows_ = matrix.shape[0]
        checkpointer, resume = None, None
        if checkpoint is not None:
            identity: dict[str, Any] = {
                "model": self.name,
                "hyperparameters": self._json_params(),
                "data": self.fingerprint_,
            }
            if monitor_every is not None:  # a curve or best weights cannot be resumed from an unmonitored run
                identity["monitor"] = {"every": monitor_every, "keep_best": keep_best}
            checkpointer = Checkpointer(checkpoint, checkpoint_every, identity)
            resume = checkpointer.load()
        if resume is not None:  # an unseeded run keeps the seed it started with
            self.seed_ = int(resume[0]["seed"])
        else:
            self.seed_ = int(self.seed if self.seed is not None else np.random.SeedSequence().entropy % 2**31)
        self.threads_ = torch.get_num_threads()  # outputs depend on it (models/training.py: cpu_threads)
        self.networks_ = self._seeded_build()
        monitor = self._monitor(matrix, monitor_every, keep_best) if monitor_every is not None else None
        ranks = distributed.start(self._device())
        if ranks is not None:
            matrix, progress = distributed.shard(matrix, ranks, self.seed_), progress and ranks.writes
        seed = distributed.rank_seed(self.seed_, ranks)
        run = TrainingRun(seed, self._device(), progress, checkpointer, resume, monitor)
        with flushing_denormals(), distributed.training(ranks, self.networks_):
            data = (
                SparseRows(matrix, run.device)
                if sparse.issparse(matrix)
                else torch.as_tensor(matrix, device=run.device)
            )
            if budget is None:
                self._train(data, run)
            else:
                plan = self._privacy_plan(data)
                private = PrivateTraining(budget, matrix.shape[0], plan.phases, seed=self.seed_)
                private.adaptations.update(plan.adaptations)
                self._train_privately(data, run, private)
                self.privacy_ = private.summary()
            if isinstance(self.transformer_, TableTransformer) and self.transformer_.calibrating:
                self._calibrate_marginals(run.device)
        self.monitor_ = monitor.summary(run.history) if monitor is not None else None
        self.history_ = run.history
        self.samples_drawn_ = 0
        return self

    def sample(
        self,
        n: int,
        seed: int | None = None,
        *,
        conditions: Mapping[str, Any] | None = None,
        proportions: Mapping[str, Mapping[Any, float]] | None = None,
    ) -> pd.DataFrame | np.ndarray | SparseCodeMatrix:
        """Generate `n` synthetic rows (a DataFrame; an array or a sparse code matrix if fitted on one).

        Without `seed`, the k-th call after fitting uses a seed derived from the model's seed and k, so a
        script that fits and samples with a fixed seed is reproducible end to end. `conditions` fixes
        binary/categorical columns ({"sex": "F"}; None = a categorical's missing value); `proportions` sets
        one column's mix ({"sex": {"F": 0.5, "M": 0.5}}). See models/conditions.py.
        """
        self._check_fitted()
        _check_rows(n)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0):
            raise ConfigError("a sampling seed must be a non-negative integer", values=[seed], remedy="e.g. seed=0")
        plan = SamplingPlan.resolve(self.transformer_, conditions, proportions)
        if seed is None:
            seed = self._next_seed()
        run = TrainingRun(seed, self._device(), show_progress=False)
        if self.input_format_ == "sparse":
            if plan is not None:
                raise ConfigError(
                    "a generator of sparse code matrices samples without conditions or proportions",
                    remedy="leave out conditions and proportions (--condition, --proportions)",
                )
            return self._sparse_sample(int(n), run)
        if plan is None:
            return self._to_output(self._generate_in_eval(int(n), run).cpu().numpy(), run)
        table = plan.sample(int(n), lambda rows, given: self._generated_table(rows, run, given), run.rng)
        return table.to_numpy() if self.input_format_ == "array" else table

    def sample_blocks(
        self,
        n: int,
        seed: int | None = None,
        *,
        conditions: Mapping[str, Any] | None = None,
        proportions: Mapping[str, Mapping[Any, float]] | None = None,
    ) -> Iterator[pd.DataFrame | np.ndarray | SparseCodeMatrix]:
        """`sample(n, seed, ...)` as blocks of at most `SAMPLE_BLOCK` rows, generated one at a time, so that writing
        millions of rows holds one block in memory. The first block is `sample(min(n, SAMPLE_BLOCK), seed)`; block k
        is seeded from (seed, k): the rows depend on `n` and `seed`, never on how they are written."""
        self._check_fitted()
        _check_rows(n)
        base = self._next_seed() if seed is None else seed
        for block, start in enumerate(range(0, int(n), SAMPLE_BLOCK)):
            block_seed = base if block == 0 else int(np.random.SeedSequence([base, block]).generate_state(1)[0])
            rows = min(SAMPLE_BLOCK, int(n) - start)
            yield self.sample(rows, seed=block_seed, conditions=conditions, proportions=proportions)

    def _next_seed(self) -> int:
        """The seed of the next unseeded sample: derived from the model's seed and how many it drew before."""
        seed = int(np.random.SeedSequence([self.seed_, self.samples_drawn_]).generate_state(1)[0])
        self.samples_drawn_ += 1
        return seed

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters per network (medGAN: autoencoder, generator, discriminator)."""
        self._check_fitted()
        return {name: sum(p.numel() for p in net.parameters()) for name, net in self.networks_.items()}

    def save(self, path: str | Path, *, overwrite: bool = True) -> Path:
        """Write the generator as `model.json` + `weights.safetensors` (zip). It holds no training rows.

        The bytes depend only on what was learned: per-epoch timings stay in `history_` and are not saved, so
        the same data, seed, version and thread count give an identical file."""
        self._check_fitted()
        meta = {
            "model": self.name,
            "hyperparameters": self._json_params(),
            "seed": self.seed_,
            "threads": self.threads_,
            "versions": _versions(),
            "data": {
                "fingerprint": self.fingerprint_,
                "rows": None if self.privacy_ else self.n_rows_,  # under DP the row count is private too
                "input_format": self.input_format_,
            },
            "schema": self.schema_.to_dict(),
            "transformer": self.transformer_.to_dict(),
            "layout": self.transformer_.layout_.to_list(),
            "history": _without_timings(self.history_),
            "monitor": self.monitor_,
            "privacy": self.privacy_,
            "selection": self.selection_,
        }
        tensors = {
            f"{name}.{key}": value
            for name, network in self.networks_.items()
            for key, value in network.state_dict().items()
            if f"{name}.{key}".startswith(self.generation_weights)
        }
        return write_artifact(path, meta, tensors, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path) -> Synthesizer:
        """Read a saved generator. Loading never executes code from the file; a damaged or edited file is an
        `ArtifactError`, whatever part of it is wrong."""
        meta, tensors = read_artifact(path)
        try:
            model_class = get_model_class(meta["model"])
        except ConfigError:
            raise ArtifactError(
                f"{str(path)!r} holds a model this synthmed does not know ({meta['model']!r})",
                remedy="upgrade synthmed, or check that the file came from synthmed",
            ) from None
        if cls is not Synthesizer and not issubclass(model_class, cls):
            raise ArtifactError(
                f"{str(path)!r} holds a {model_class.name} model, not {cls.name}",
                remedy=f"use synthmed.load or {model_class.__name__}.load",
            )
        try:
            model = model_class._from_meta(meta)
        except (SynthmedError, KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
            detail = error.problem if isinstance(error, SynthmedError) else f"{type(error).__name__}: {error}"
            raise ArtifactError(
                f"{str(path)!r} is damaged: {META_NAME} does not describe a usable generator ({detail})",
                remedy=DAMAGED_REMEDY,
            ) from None
        for name, network in model.networks_.items():
            state = {key[len(name) + 1 :]: value for key, value in tensors.items() if key.startswith(name + ".")}
            _load_weights(path, name, network, state, model.generation_weights)
        return model

    @classmethod
    def _from_meta(cls, meta: dict[str, Any]) -> Self:
        """The model described by a generator's metadata, networks built but not yet loaded."""
        model = cls.from_params(meta["hyperparameters"])
        model._check_params()
        model._load_transform(meta)
        model.seed_ = int(meta["seed"])
        model.threads_ = meta.get("threads")  # None when the metadata holds no thread count
        model.fingerprint_ = meta["data"]["fingerprint"]
        model.n_rows_ = meta["data"]["rows"]
        model.input_format_ = meta["data"]["input_format"]
        model.history_ = meta["history"]
        model.monitor_ = meta.get("monitor")
        model.privacy_ = meta.get("privacy")
        model.private_ = model.privacy_ is not None
        model.selection_ = meta.get("selection")
        model.samples_drawn_ = 0
        model.networks_ = model._seeded_build()
        return model

    # ---- helpers -----------------------------------------------------------------------------------
    def _check_distributed_options(
        self, budget: PrivacyBudget | None, monitor_every: int | None, checkpoint: Any
    ) -> None:
        """What a run under torchrun cannot do yet, refused before any data is read."""
        refused = [
            (self.data_kind() == "sequences", f"{self.name} trains in one process"),
            (budget is not None, "differentially private training keeps one accountant and runs in one process"),
            (checkpoint is not None, "checkpoints are written by single-process runs"),
            (monitor_every is not None, "the training monitor scores single-process runs"),
        ]
        for found, why in refused:
            if found:
                raise ConfigError(f"under torchrun: {why}", remedy="run it without torchrun, or drop the option")

    def _check_private_options(self, budget: PrivacyBudget, monitor_every: int | None, checkpoint: Any) -> None:
        budget.check()
        if not self.trains_privately():
            supported = ", ".join(name for name, model in MODELS.items() if model.trains_privately())
            raise ConfigError(
                f"differentially private training is not available for {self.name} yet",
                remedy=f"models with it: {supported}",
            )
        if monitor_every is not None:
            raise ConfigError(
                "the training monitor reads the training data outside the privacy budget",
                remedy="leave out monitor_every (--monitor-every) when training with dp_epsilon",
            )
        if checkpoint is not None:
            raise ConfigError(
                "a differentially private run cannot be resumed from checkpoints yet",
                remedy="leave out checkpoint (--checkpoint) when training with dp_epsilon",
            )

    def _json_params(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.get_params().items()}

    def _fidelity_reference(self, matrix: np.ndarray) -> Reference:
        """Statistics of the training matrix that the monitor scores generated rows against."""
        if sparse.issparse(matrix):
            raise ConfigError(
                "the training monitor scores dense tables, not a sparse code matrix",
                remedy="leave out monitor_every (--monitor-every), or train on the dense table",
            )
        if matrix.ndim != 2 or not isinstance(self.transformer_, TableTransformer):
            raise ConfigError(f"the training monitor needs tabular data, which {self.name} does not train on")
        return FidelityReference(matrix, self.transformer_, self.seed_)

    def _monitor(self, matrix: np.ndarray, every: int, keep_best: bool) -> TrainingMonitor:
        return TrainingMonitor(
            self._fidelity_reference(matrix),
            monitor_rows(matrix),
            every=every,
            keep_best=keep_best,
            seed=self.seed_,
            stochastic=self._decode_stochastically(),
            sample=lambda rows, seed: self._generate_in_eval(rows, TrainingRun(seed, self._device(), False)),
        )

    def _generated_table(self, n: int, run: TrainingRun, given: Given) -> pd.DataFrame:
        return self._decoded(self._generate_in_eval(n, run, given).cpu().numpy(), run)

    def _calibrate_marginals(self, device: torch.device) -> None:
        """Show the encoders a large generated sample: numeric calibration maps it onto the target quantiles
        (the data's, or under DP the released histograms'), and calibrated rounding finds each binary column's
        threshold (see data/calibration.py). `fit` calls it after training whenever a column holds a target
        (tabgan; corGAN with quantile_knots or binary_rounding="calibrated")."""
        calibration = self._generate_in_eval(CALIBRATION_ROWS, TrainingRun(self.seed_, device, False))
        self.transformer_.calibrate(calibration.cpu().numpy())

    def _generate_in_eval(self, n: int, run: TrainingRun, given: Given | None = None) -> torch.Tensor:
        """`_generate` (or `_generate_given`) in eval mode without gradients, then every module back in its mode.

        Eval mode leaves batch-norm statistics untouched, so monitoring mid-training changes nothing.
        """
        modes = [(module, module.training) for network in self.networks_.values() for module in network.modules()]
        for network in self.networks_.values():
            network.eval()
        try:
            with torch.no_grad():
                rows = self._generate_given(n, run, given) if given else None
                return rows if rows is not None else self._generate(n, run)
        finally:
            for module, training in modes:
                module.training = training

    def _seeded_build(self) -> dict[str, nn.Module]:
        with torch.random.fork_rng(devices=[]):  # seed weight initialisation without touching global state
            torch.manual_seed(self.seed_)
            networks = self._build(self.transformer_.layout_)
        device = self._device()
        return {name: network.to(device) for name, network in networks.items()}

    def _check_fitted(self) -> None:
        if not hasattr(self, "history_"):  # set only once training has finished
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet",
                remedy="call fit(data) first, or load a saved generator",
            )

    @staticmethod
    def _as_table(data: DataLike, reading: ReadOptions) -> tuple[pd.DataFrame, str]:
        if isinstance(data, SparseCodeMatrix):
            return data.to_frame(), "frame"
        if is_table_source(data):
            return reading.read(data), "frame"
        if isinstance(data, np.ndarray):
            if data.ndim != 2:
                raise DataError(f"expected a 2-D array (rows x columns), got shape {data.shape}")
            return pd.DataFrame(data, columns=[f"x{i}" for i in range(data.shape[1])]), "array"
        if isinstance(data, pd.DataFrame):
            return (data.replace(list(reading.na_values), np.nan) if reading.na_values else data), "frame"
        raise DataError(
            f"cannot train on a {type(data).__name__}",
            remedy="pass a pandas DataFrame, a 2-D numpy array, a SparseCodeMatrix, or a CSV/Parquet path",
        )
