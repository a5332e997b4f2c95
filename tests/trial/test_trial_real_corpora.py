"""Acceptance on the real corpora (../shared/data): models trained by the trial runtime learn."""

from __future__ import annotations

import math

import pytest
import torch

from hyperprune.data import load_text_corpus
from hyperprune.trial.runtime import run_trial
from hyperprune.contract.trial import TrialConfig
from trial_support import read_lines

pytestmark = pytest.mark.data


def test_a_character_lm_on_tiny_shakespeare_learns_within_a_few_epochs(shared_data, tmp_path):
    config = TrialConfig.model_validate(
        {
            "data": {"corpus": "text", "level": "char", "path": str(shared_data / "tinyshakespeare")},
            "model": {"arch": "lstm", "hiddenSize": 128},
            "training": {"epochs": 3, "optimizer": "adam", "lr": 0.005, "clip": 1.0, "batchSize": 32,
                         "bptt": 50, "maxBatches": 60, "evalMaxBatches": 20},
            "lyapunov": {"epochs": [3], "k": 8},
            "device": "cpu",
        }
    )
    run_trial(config, tmp_path)
    reports = read_lines(tmp_path)
    uniform = math.log(66)  # 65 symbols + <unk>: the loss of a model that learned nothing
    assert [r.train_loss for r in reports] == sorted((r.train_loss for r in reports), reverse=True)
    assert reports[-1].val_loss < 0.6 * uniform  # 4.19 nats -> about 2.1 after 180 steps
    assert reports[-1].test_metric < 10.0  # per-character perplexity


def test_a_dense_two_layer_lstm_on_ptb_eval_beats_the_unigram_baseline_by_far(shared_data, tmp_path):
    data = {"corpus": "ptb", "path": str(shared_data / "ptb-eval"),
            "files": {"train": "ptb.valid.txt", "test": "ptb.test.txt"}}
    config = TrialConfig.model_validate(
        {
            "data": data,
            "model": {"arch": "lstm", "numLayers": 2, "hiddenSize": 128},
            "training": {"epochs": 3, "lr": 20.0, "batchSize": 10, "bptt": 35, "clip": 0.25},
            "lyapunov": {"epochs": [3], "k": 8},
            "device": "cpu",
        }
    )
    run_trial(config, tmp_path)
    final = read_lines(tmp_path)[-1]

    # Unigram baseline: training-split frequencies (add-one smoothed) scored on the test split.
    corpus = load_text_corpus("ptb", data["path"], files=data["files"])
    counts = torch.bincount(corpus.train, minlength=len(corpus.vocab)).double() + 1
    unigram = math.exp(-(counts / counts.sum()).log()[corpus.test].mean().item())
    assert 400 < unigram < 520  # about 458
    assert final.status == "completed" and final.test_metric < 0.7 * unigram  # about 270
