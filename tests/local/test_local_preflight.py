"""What ``hyperprune run`` checks on this machine before any training (hyperprune.local.preflight)."""

from __future__ import annotations

from hyperprune.local.datafiles import path_issues as data_path_issues
from hyperprune.spec import parse_search

SEARCH = {
    "apiVersion": "hyperprune.io/v1alpha1",
    "kind": "HyperpruneSearch",
    "metadata": {"name": "good"},
    "spec": {
        "training": {"epochs": 8},
        "space": {"methods": [{"method": "magnitude", "params": {"pruneEpoch": 0}}]},
        "strategy": {"rungs": {"first": 2, "step": 2}},
        "data": {"corpus": "text", "path": "corpus", "files": {"train": "train.txt", "valid": "valid.txt"}},
    },
}


def test_data_path_issues_name_a_missing_data_directory_then_a_missing_file(tmp_path):
    data = parse_search(SEARCH).spec.data
    assert data_path_issues(data, tmp_path) == [("spec.data.path", f"{tmp_path / 'corpus'}: no such directory on this machine")]
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "train.txt").write_text("a b c")
    assert data_path_issues(data, tmp_path) == [("spec.data.files.valid", f"{tmp_path / 'corpus' / 'valid.txt'}: no such file")]
