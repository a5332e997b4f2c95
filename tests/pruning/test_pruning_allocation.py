"""Which matrices are masked, and per-block counts: uniform and Erdos-Renyi densities hit exactly."""

from __future__ import annotations

import pytest

from hyperprune.pruning.allocation import apportion, block_keep_counts, er_densities, kept_total
from hyperprune.pruning.targets import prunable_matrices, total_weights
from pruning_support import tiny_lm


@pytest.mark.parametrize(
    "arch,layers,names,gates",
    [
        ("lstm", 2, ["weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"], 4),
        ("gru", 1, ["weight_ih_l0", "weight_hh_l0"], 3),
        ("rnn_tanh", 1, ["weight_ih_l0", "weight_hh_l0"], 1),
        ("rhn", 1, ["weight_ih", "weight_hh_0", "weight_hh_1"], 2),
    ],
)
def test_only_core_weight_matrices_are_prunable(arch, layers, names, gates):
    matrices = prunable_matrices(tiny_lm(arch, layers=layers))
    assert [m.name for m in matrices] == ["core." + n for n in names]
    assert all(m.gates == gates and m.hidden == 16 for m in matrices)


def test_er_densities_hit_the_target_and_follow_the_shape_rule():
    matrices = prunable_matrices(tiny_lm("lstm", hidden=16, layers=2))
    dens = er_densities(matrices, 0.3)
    assert sum(d * m.numel for d, m in zip(dens, matrices)) == pytest.approx(0.3 * total_weights(matrices))
    raw = [(m.param.shape[0] + m.param.shape[1]) / m.numel for m in matrices]
    for d, r in zip(dens, raw):
        assert d / r == pytest.approx(dens[0] / raw[0])


def test_er_clips_dense_matrices_and_redistributes():
    # RHN with tiny input: weight_ih is [2H, 1]; its ER share exceeds 1 at a mild sparsity.
    from hyperprune.models import build_model
    from hyperprune.contract.trial import ModelConfig

    model = build_model(ModelConfig(arch="rhn", hidden_size=32, embedding_size=1, rhn_depth=2), vocab_size=5)
    matrices = prunable_matrices(model)
    dens = er_densities(matrices, 0.5)
    assert dens[0] == 1.0
    assert all(d < 1.0 for d in dens[1:])
    total = kept_total(matrices, 0.5)
    counts = block_keep_counts(matrices, dens, total)
    assert sum(map(sum, counts)) == total
    assert counts[0] == [32, 32]


def test_block_counts_sum_exactly_and_respect_capacity():
    matrices = prunable_matrices(tiny_lm("gru", hidden=7))
    for sparsity in (0.0, 0.1, 0.333, 0.9, 0.999):
        total = kept_total(matrices, sparsity)
        counts = block_keep_counts(matrices, [1 - sparsity] * len(matrices), total)
        assert sum(map(sum, counts)) == total
        assert all(0 <= c <= m.block_numel for m, row in zip(matrices, counts) for c in row)


def test_apportion_is_proportional_exact_and_capped():
    assert apportion([1, 1, 2], 8, [10, 10, 10]) == [2, 2, 4]
    assert sum(apportion([1, 1, 1], 10, [10, 10, 10])) == 10
    assert apportion([1, 100], 10, [10, 3]) == [7, 3]  # the capped entry's excess goes to the other
    assert apportion([0, 0], 3, [2, 2]) in ([2, 1], [1, 2])
    with pytest.raises(ValueError):
        apportion([1], 5, [4])
