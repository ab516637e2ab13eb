"""Resumable training: everything a run needs to continue, in one safetensors file.

A checkpoint holds the networks, the optimizers' moments, both random streams and the history, so a run
resumed after a crash produces exactly the model an uninterrupted run would. Bookkeeping (phase, epoch,
identity of the run) lives in the file's metadata, so a single atomic rename publishes a checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from synthmed.data.files import atomic_output
from synthmed.errors import ArtifactError, ConfigError

FILE_NAME = "checkpoint.safetensors"


class TensorState(Protocol):
    """Anything else a run keeps in its checkpoints as flat named tensors (the monitor's best weights)."""

    def state_dict(self) -> dict[str, torch.Tensor]: ...

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None: ...


Stateful = nn.Module | torch.optim.Optimizer | TensorState
Resume = tuple[dict[str, Any], dict[str, torch.Tensor]]  # (bookkeeping, tensors) of a saved checkpoint


def _tensors_and_meta(objects: Mapping[str, Stateful]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    for name, obj in objects.items():
        state = obj.state_dict()
        if isinstance(obj, torch.optim.Optimizer):
            for param_id, values in state["state"].items():
                for key, value in values.items():
                    tensors[f"{name}.{param_id}.{key}"] = value
            meta[name] = state["param_groups"]
        else:
            tensors.update({f"{name}.{key}": value for key, value in state.items()})
    return tensors, meta


def _load_into(objects: Mapping[str, Stateful], tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    for name, obj in objects.items():
        prefix = name + "."
        own = {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}
        if isinstance(obj, torch.optim.Optimizer):
            state: dict[int, dict[str, torch.Tensor]] = {}
            for key, value in own.items():
                param_id, field = key.split(".", 1)
                state.setdefault(int(param_id), {})[field] = value
            obj.load_state_dict({"state": state, "param_groups": meta[name]})
        else:
            obj.load_state_dict(own)


class Checkpointer:
    """Writes a checkpoint every `every` epochs (and at each phase end) and finds one to resume from."""

    def __init__(self, folder: str | Path, every: int, identity: dict[str, Any]) -> None:
        if every < 1:
            raise ConfigError("checkpoint_every must be at least 1", values=[every], remedy="e.g. 10")
        self.path = Path(folder) / FILE_NAME
        self.every = every
        self.identity = json.loads(json.dumps(identity))  # compare as it will be read back

    def due(self, epoch: int, count: int) -> bool:
        return epoch % self.every == 0 or epoch == count

    def save(
        self,
        *,
        phase: str,
        epoch: int,
        completed: list[str],
        objects: Mapping[str, Stateful],
        seed: int,
        rng: np.random.Generator,
        noise: torch.Generator,
        history: dict[str, Any],
    ) -> None:
        tensors, optimizer_meta = _tensors_and_meta(objects)
        tensors["noise_generator_state"] = noise.get_state()
        bookkeeping = {
            "identity": self.identity,
            "seed": seed,
            "phase": phase,
            "epoch": epoch,
            "completed": completed,
            "history": history,
            "rng": rng.bit_generator.state,
            "optimizers": optimizer_meta,
        }
        payload = {key: value.detach().cpu().contiguous() for key, value in tensors.items()}
        with atomic_output(self.path) as temporary:
            save_file(payload, temporary, metadata={"checkpoint": json.dumps(bookkeeping)})

    def load(self) -> Resume | None:
        """The saved (bookkeeping, tensors) of this same run, None if there is none; refuses another run's."""
        if not self.path.is_file():
            return None
        try:
            with safe_open(self.path, framework="pt") as handle:
                bookkeeping = json.loads(handle.metadata()["checkpoint"])
                tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
            identity = bookkeeping["identity"]
        except Exception as error:  # whatever the damage (header, JSON, tensors), one message and remedy
            raise ArtifactError(
                f"the checkpoint {str(self.path)!r} is damaged ({type(error).__name__})",
                remedy="delete it to train from the start, or use another checkpoint folder",
            ) from None
        if identity != self.identity:
            raise ConfigError(
                f"the checkpoint in {str(self.path.parent)!r} belongs to another run (different data, model, "
                "hyperparameters, monitor settings or seed)",
                remedy="use a new checkpoint folder, or delete the old checkpoint to start afresh",
            )
        return bookkeeping, tensors

    @staticmethod
    def restore(
        bookkeeping: dict[str, Any],
        tensors: dict[str, torch.Tensor],
        objects: Mapping[str, Stateful],
        rng: np.random.Generator,
        noise: torch.Generator,
    ) -> None:
        _load_into(objects, tensors, bookkeeping["optimizers"])
        rng.bit_generator.state = bookkeeping["rng"]
        noise.set_state(tensors["noise_generator_state"])
