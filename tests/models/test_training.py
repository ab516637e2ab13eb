"""The epoch loop's choice by a held-out loss: the weights of the lowest epoch are kept, training stops after
`patience` epochs without a new lowest, and a run resumed from a checkpoint chooses as the uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from synthmed.models.checkpoint import Checkpointer
from synthmed.models.training import KEPT_SUFFIX, LowestLoss, TrainingRun

# the held-out loss each epoch logs; its lowest is at epoch 3
LOSSES = [5.0, 4.0, 2.0, 3.0, 2.0, 6.0, 7.0, 1.0]


def _train(run: TrainingRun, layer: nn.Linear, select: LowestLoss | None, epochs: int = len(LOSSES)) -> list[int]:
    """Set the weight to the epoch's number, log that epoch's scripted loss; return the epochs run."""
    ran = []
    for epoch in run.epochs("train", epochs, 1, {"layer": layer}, select=select):
        with torch.no_grad():
            layer.weight.fill_(epoch + 1)
        run.log(validation_nll=LOSSES[epoch])
        ran.append(epoch + 1)
    return ran


def test_the_weights_of_the_lowest_held_out_loss_are_kept_and_training_stops_after_patience() -> None:
    run, layer = TrainingRun(seed=0, device=torch.device("cpu"), show_progress=False), nn.Linear(1, 1)
    ran = _train(run, layer, LowestLoss("validation_nll", patience=2))
    assert ran == [1, 2, 3, 4, 5]  # epochs 4 and 5 are no lower than epoch 3 (a tie is no improvement)
    assert layer.weight.item() == 3.0
    assert run.history["train" + KEPT_SUFFIX] == [{"epoch": 3, "validation_nll": 2.0}]


def test_without_patience_every_epoch_runs_and_the_lowest_is_kept() -> None:
    run, layer = TrainingRun(seed=0, device=torch.device("cpu"), show_progress=False), nn.Linear(1, 1)
    assert _train(run, layer, LowestLoss("validation_nll")) == list(range(1, 9))
    assert layer.weight.item() == 8.0
    unselected, layer = TrainingRun(seed=0, device=torch.device("cpu"), show_progress=False), nn.Linear(1, 1)
    _train(unselected, layer, None, epochs=3)
    assert layer.weight.item() == 3.0 and "train" + KEPT_SUFFIX not in unselected.history


class Interrupted(Exception):
    """Stands in for a crash in the middle of training."""


def test_a_resumed_run_keeps_the_epoch_the_uninterrupted_one_keeps(tmp_path: Path) -> None:
    select = LowestLoss("validation_nll", patience=3)
    checkpointer = Checkpointer(tmp_path, every=1, identity={"model": "test"})
    run, layer = TrainingRun(0, torch.device("cpu"), False, checkpointer), nn.Linear(1, 1)
    with pytest.raises(Interrupted):
        for epoch in run.epochs("train", len(LOSSES), 1, {"layer": layer}, select=select):
            with torch.no_grad():
                layer.weight.fill_(epoch + 1)
            run.log(validation_nll=LOSSES[epoch])
            if epoch == 4:  # epoch 5 trained, not yet checkpointed: the lowest (epoch 3) lives in the checkpoint
                raise Interrupted
    resumed, fresh = TrainingRun(0, torch.device("cpu"), False, checkpointer, checkpointer.load()), nn.Linear(1, 1)
    assert _train(resumed, fresh, select) == [5, 6]  # epochs 4, 5 and 6 are no lower than epoch 3
    assert fresh.weight.item() == 3.0
    assert resumed.history["train" + KEPT_SUFFIX] == [{"epoch": 3, "validation_nll": 2.0}]
