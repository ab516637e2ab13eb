import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from synthmed.data.inference import infer_schema
from synthmed.data.transform import TableTransformer
from synthmed.errors import SynthmedWarning
from synthmed.models import CorGAN, MedGAN
from synthmed.models.layers import SpanHead


def _sparse_codes(rows: int = 400, codes: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame((rng.random((rows, codes)) < 0.08).astype(np.uint8), columns=[f"c{i}" for i in range(codes)])


def test_frequency_loss_is_the_loss_of_predicting_column_means():
    table = pd.DataFrame({"code": [0, 1, 1, 0, 1, 0], "kind": list("aabbbc"), "value": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    transformer = TableTransformer(infer_schema(table)).fit(table)
    head = SpanHead(transformer.layout_)
    records = torch.as_tensor(transformer.transform(table), dtype=torch.float32)
    mean = records.mean(dim=0)
    # logits whose activations are the column means: logit for sigmoid, log for softmax, identity or atanh for mse
    logits = mean.clone()
    logits[head.bce_index] = torch.logit(mean[head.bce_index])
    for start, stop in head.softmax_spans:
        logits[start:stop] = mean[start:stop].log()
    logits[head.tanh_index] = torch.atanh(mean[head.tanh_index])
    expected = head.loss(logits.expand_as(records), records).item()
    assert head.frequency_loss(records) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("model", [MedGAN, CorGAN])
def test_an_autoencoder_no_better_than_frequencies_is_reported(model):
    settings = {"pretrain_epochs": 1, "epochs": 1, "batch_size": 64, "seed": 0}
    if model is CorGAN:
        settings["warmup_critic_steps"] = 5
    with pytest.warns(SynthmedWarning, match="no better than the column frequencies"):
        model(**settings).fit(_sparse_codes(), progress=False)


def test_a_trained_autoencoder_is_not_reported():
    # two columns, each copied five times: an autoencoder learns the copies, frequencies cannot
    rng = np.random.default_rng(0)
    base = (rng.random((600, 2)) < 0.5).astype(np.uint8)
    table = pd.DataFrame(np.repeat(base, 5, axis=1), columns=[f"c{i}" for i in range(10)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", SynthmedWarning)
        MedGAN(pretrain_epochs=20, epochs=1, batch_size=100, seed=0).fit(table, progress=False)


def test_draw_binary_draws_0_1_and_passes_the_gradient_straight_through():
    table = pd.DataFrame({"code": [0, 1, 1, 0], "kind": list("abca"), "value": [1.0, 2.0, 3.0, 4.0]})
    head = SpanHead(TableTransformer(infer_schema(table)).fit(table).layout_)
    logits = torch.randn(2000, head.width, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    activated = head(logits)
    drawn = head.draw_binary(activated, torch.Generator().manual_seed(1))
    binary = drawn[:, head.sigmoid_index]
    assert set(binary.unique().tolist()) <= {0.0, 1.0}
    assert binary.mean().item() == pytest.approx(activated[:, head.sigmoid_index].mean().item(), abs=0.03)
    others = [d for d in range(head.width) if d not in set(head.sigmoid_index.tolist())]
    assert torch.equal(drawn[:, others], activated[:, others])
    weights = torch.randn(head.width)
    straight = torch.autograd.grad((drawn * weights).sum(), logits, retain_graph=True)[0]
    direct = torch.autograd.grad((activated * weights).sum(), logits)[0]
    torch.testing.assert_close(straight, direct)  # the draw's gradient is the probability's
    again = head.draw_binary(activated.detach(), torch.Generator().manual_seed(1))
    assert torch.equal(again, drawn.detach())


def test_logits_for_decodes_to_the_given_means():
    table = pd.DataFrame({"code": [0, 1, 1, 0, 1, 0], "kind": list("aabbbc"), "value": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    transformer = TableTransformer(infer_schema(table)).fit(table)
    head = SpanHead(transformer.layout_)
    mean = torch.as_tensor(transformer.transform(table), dtype=torch.float32).mean(dim=0)
    torch.testing.assert_close(head(head.logits_for(mean).unsqueeze(0))[0], mean, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("model", [MedGAN, CorGAN])
def test_starting_at_frequencies_spares_pretraining_the_frequencies(model):
    codes = _sparse_codes()
    settings = {"pretrain_epochs": 1, "epochs": 0, "seed": 0}
    fitted = [model(**settings, start_at_frequencies=start).fit(codes, progress=False) for start in (False, True)]
    losses = [m.history_["pretrain"][0]["reconstruction"] for m in fitted]
    assert losses[1] < 0.5 * losses[0]
