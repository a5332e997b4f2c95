"""The dense reference's cache: trained once on this machine, reused by a later search with the same
model, data, recipe and seed (its epochs still counted), never by one that differs."""

from __future__ import annotations

import json
import os

import pytest

from hyperprune.contract.files import CHECKPOINT_FILE, REPORTS_FILE
from hyperprune.contract.report import TrialReport
from hyperprune.contract.trial import TrialConfig
from hyperprune.local.dense_cache import DenseCache, cache_key, cache_root
from local_support import journal, result, run_engine, write_search


def report(epoch: int, spectrum: bool = True) -> TrialReport:
    return TrialReport(trial_id="dense", epoch=epoch, metric="perplexity", mode="min", val_metric=100.0 - epoch,
                       lyapunov=[0.1, -0.2] if spectrum else None)


def trial_dir_with(path, epochs: int, *, spectra: bool = True):
    path.mkdir(parents=True)
    (path / REPORTS_FILE).write_text("".join(report(e, spectra).model_dump_json(by_alias=True) + "\n"
                                             for e in range(1, epochs + 1)))
    (path / CHECKPOINT_FILE).write_bytes(b"checkpoint at the last epoch")
    return path


def config(**lyapunov) -> TrialConfig:
    return TrialConfig.model_validate({"trialId": "dense", "lyapunov": lyapunov})


def test_the_key_ignores_the_trial_id_and_spectrum_epochs_but_not_the_recipe_or_the_data():
    files = [{"path": "/a/train.txt", "bytes": 10, "sha256": "x"}]
    base = cache_key(config(epochs=[2, 3]), files)
    assert cache_key(TrialConfig.model_validate({"trialId": "other", "lyapunov": {"epochs": [5]}}), files) == base
    moved = [{"path": "/elsewhere/train.txt", "bytes": 10, "sha256": "x"}]
    assert cache_key(config(), moved) == base  # the same files elsewhere
    assert cache_key(config(), [{**files[0], "sha256": "y"}]) != base  # other content
    assert cache_key(TrialConfig.model_validate({"seed": 1}), files) != base
    assert cache_key(TrialConfig.model_validate({"training": {"lr": 0.123}}), files) != base


def test_serve_takes_what_the_search_needs_and_store_keeps_the_longest(tmp_path):
    cache = DenseCache(tmp_path / "cache")
    assert cache.store("k", trial_dir_with(tmp_path / "run1", 3))
    assert not cache.store("k", trial_dir_with(tmp_path / "run2", 2))  # shorter: the cache keeps 3 epochs
    served = cache.serve("k", config(), tmp_path / "t1", until_epoch=2)
    assert served is not None and served.epochs == 2 and not served.checkpoint  # its checkpoint is epoch 3's
    assert [json.loads(x)["epoch"] for x in (tmp_path / "t1" / REPORTS_FILE).read_text().splitlines()] == [1, 2]
    more = cache.serve("k", config(), tmp_path / "t2", until_epoch=6)  # resumes from the cached epoch 3
    assert more is not None and more.epochs == 3 and (tmp_path / "t2" / CHECKPOINT_FILE).exists()
    assert cache.serve("other", config(), tmp_path / "t3", until_epoch=2) is None


def test_a_cached_run_without_the_spectra_the_search_asks_for_is_not_used(tmp_path):
    cache = DenseCache(tmp_path / "cache")
    cache.store("k", trial_dir_with(tmp_path / "run", 3, spectra=False))
    assert cache.serve("k", config(epochs=[2]), tmp_path / "t", until_epoch=3) is None


def test_off_switches_it_off(monkeypatch, tmp_path):
    monkeypatch.setenv("HYPERPRUNE_CACHE_DIR", "off")
    assert cache_root() is None
    monkeypatch.setenv("HYPERPRUNE_CACHE_DIR", str(tmp_path))
    assert cache_root() == tmp_path / "dense"


@pytest.mark.slow
def test_a_second_search_takes_the_dense_reference_from_the_cache_and_decides_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERPRUNE_CACHE_DIR", str(tmp_path / "cache"))
    search = write_search(tmp_path / "search.yaml")
    first, second = tmp_path / "first", tmp_path / "second"
    for workdir in (first, second):
        done = run_engine(search, workdir, "--workers", "1", "--quiet")
        assert done.returncode == 0, done.stdout + done.stderr
    a, b = result(first), result(second)
    assert (b["best"]["id"], b["trialEpochs"]) == (a["best"]["id"], a["trialEpochs"])  # counted either way
    assert not any(e["event"] == "dense-cache" for e in journal(first))
    served = [e for e in journal(second) if e["event"] == "dense-cache"]
    assert len(served) == 1 and served[0]["epochs"] == a["dense"]["epochsTrained"]
    assert not any(e["event"] == "launch" and e["trial"] == "dense" for e in journal(second))
    assert b["dense"]["valMetric"] == a["dense"]["valMetric"]
    # Another recipe is another dense model: trained, not taken.
    third = tmp_path / "third"
    other = write_search(tmp_path / "other.yaml", seed=1)
    assert run_engine(other, third, "--workers", "1", "--quiet").returncode == 0
    assert not any(e["event"] == "dense-cache" for e in journal(third))
    assert os.listdir(tmp_path / "cache" / "dense")
