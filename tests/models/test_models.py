"""Model zoo: shapes, state handling, weight tying, dropout semantics, seeding, learning, bad configs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyperprune.models import LanguageModel, ModelConfigError, SequenceClassifier, build_model, detach_state
from hyperprune.models.rhn import RHN
from hyperprune.contract.trial import ModelConfig

ARCHS = ["rnn_tanh", "rnn_relu", "gru", "lstm", "rhn"]


def lm(arch="lstm", **kw) -> LanguageModel:
    seed = kw.pop("seed", 0)
    cfg = ModelConfig(arch=arch, hidden_size=kw.pop("hidden_size", 12), **kw)
    return build_model(cfg, vocab_size=30, seed=seed)


@pytest.mark.parametrize("arch", ARCHS)
def test_language_model_shapes_and_state_carry(arch):
    model = lm(arch, num_layers=1 if arch == "rhn" else 2, embedding_size=10)
    tokens = torch.randint(0, 30, (7, 3))
    logits, state = model(tokens)
    assert logits.shape == (7, 3, 30)
    assert model.core_inputs(tokens).shape == (7, 3, 10)
    # Carrying the state over two halves equals one pass over the whole sequence.
    model.eval()
    full, _ = model(tokens)
    first, mid = model(tokens[:4])
    second, _ = model(tokens[4:], model.detach_state(mid))
    torch.testing.assert_close(torch.cat([first, second]), full)
    # init_state is the zero state the core starts from.
    zero_logits, _ = model(tokens, model.init_state(3))
    torch.testing.assert_close(zero_logits, full)


@pytest.mark.parametrize("arch", ARCHS)
def test_core_is_a_torch_rnn_or_rhn_on_time_major_inputs(arch):
    model = lm(arch)
    if arch == "rhn":
        assert isinstance(model.core, RHN) and model.core.depth == 3
    else:
        assert isinstance(model.core, (nn.RNN, nn.GRU, nn.LSTM)) and model.core.batch_first is False
    tokens = torch.randint(0, 30, (5, 2))
    out, _ = model.core(model.core_inputs(tokens))
    assert out.shape == (5, 2, 12)


def test_relu_and_tanh_rnn_use_their_nonlinearity():
    assert lm("rnn_relu").core.nonlinearity == "relu"
    assert lm("rnn_tanh").core.nonlinearity == "tanh"


def test_weight_tying_shares_one_tensor():
    model = lm("lstm", tie_weights=True)
    assert model.decoder.weight is model.embedding.weight
    with torch.no_grad():
        model.embedding.weight[0, 0] = 5.0
    assert model.decoder.weight[0, 0].item() == 5.0
    untied = lm("lstm")
    assert untied.decoder.weight.data_ptr() != untied.embedding.weight.data_ptr()


def test_head_initialisation_as_word_language_model():
    model = lm("lstm", hidden_size=20)
    assert model.embedding.weight.abs().max() <= 0.1
    assert model.decoder.weight.abs().max() <= 0.1
    assert torch.count_nonzero(model.decoder.bias) == 0
    bound = 1 / 20**0.5
    assert model.core.weight_hh_l0.abs().max() <= bound


def test_stacked_dropout_only_in_training_mode():
    model = lm("lstm", num_layers=3, dropout=0.5)
    assert model.core.dropout == 0.5
    tokens = torch.randint(0, 30, (6, 4))
    model.train()
    torch.manual_seed(1)
    a, _ = model(tokens)
    b, _ = model(tokens)
    assert not torch.allclose(a, b)
    model.eval()
    c, _ = model(tokens)
    d, _ = model(tokens)
    torch.testing.assert_close(c, d)
    # core_inputs is the eval-mode input even when the model is training.
    model.train()
    torch.testing.assert_close(model.core_inputs(tokens), model.embedding(tokens))


def test_same_seed_same_weights_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = lm("gru", seed=4)
    after = torch.rand(3)
    torch.testing.assert_close(before, after)
    b = build_model(ModelConfig(arch="gru", hidden_size=12), vocab_size=30, seed=4)
    c = build_model(ModelConfig(arch="gru", hidden_size=12), vocab_size=30, seed=5)
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        torch.testing.assert_close(pa, pb, msg=name)
    assert not torch.equal(a.core.weight_hh_l0, c.core.weight_hh_l0)


def test_detach_state_cuts_history():
    model = lm("lstm")
    _, (h, c) = model(torch.randint(0, 30, (3, 2)))
    assert h.requires_grad
    dh, dc = detach_state((h, c))
    assert not dh.requires_grad and not dc.requires_grad
    torch.testing.assert_close(dh, h)


@pytest.mark.parametrize("arch", ["lstm", "gru", "rhn"])
def test_classifier_learns_to_remember_the_first_step(arch):
    # Class c is written at step 0 (feature c lit), then 7 steps of noise: the core must carry it.
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (64,), generator=gen)
    x = 0.3 * torch.rand(8, 64, 8, generator=gen)
    x[0, torch.arange(64), labels] += 1.0
    model = build_model(ModelConfig(arch=arch, hidden_size=16), num_classes=4, input_size=8, seed=0)
    assert isinstance(model, SequenceClassifier)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    first = None
    for _ in range(60):
        loss = nn.functional.cross_entropy(model(x), labels)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first
    assert (model(x).argmax(1) == labels).float().mean() > 0.9
    assert model.core_inputs(x).shape == (8, 64, 8)


def test_bad_model_configs_name_the_field():
    with pytest.raises(ModelConfigError, match=r"model\.numLayers"):
        build_model(ModelConfig(arch="rhn", num_layers=2), vocab_size=10)
    with pytest.raises(ModelConfigError, match=r"model\.tieWeights"):
        build_model(ModelConfig(hidden_size=8, embedding_size=6, tie_weights=True), vocab_size=10)
    with pytest.raises(ModelConfigError, match=r"model\.tieWeights"):
        build_model(ModelConfig(tie_weights=True), num_classes=3, input_size=8)
    with pytest.raises(ValueError, match="exactly one"):
        build_model(ModelConfig(), vocab_size=10, num_classes=3, input_size=8)
    with pytest.raises(ValueError, match="input_size"):
        build_model(ModelConfig(), num_classes=3)
