"""The test node agent's own logic, without a cluster: watch restarts, path rewriting, $(VAR) expansion."""

from __future__ import annotations

import json
import threading
import time

from kubernetes import client
from urllib3.exceptions import ProtocolError

from .node_agent import NodeAgent, PathRewriter, expand_vars


class _Listing:
    def __init__(self, resource_version: str):
        self.data = json.dumps({"metadata": {"resourceVersion": resource_version}, "items": []}).encode()


class _WatchStream:
    """A watch response: its lines, then either a dropped connection or silence until shutdown()."""

    def __init__(self, lines=(), drop: bool = False):
        self.lines, self.drop, self.closed = lines, drop, threading.Event()

    def stream(self, amt=None, decode_content=False):
        for line in self.lines:
            yield json.dumps(line).encode() + b"\n"
        if self.drop:
            raise ProtocolError("Connection broken: IncompleteRead")
        self.closed.wait(10)

    def shutdown(self):
        self.closed.set()

    def release_conn(self):
        pass


class _FakeCore:
    def __init__(self, responses):
        self.responses, self.calls = list(responses), []

    def list_pod_for_all_namespaces(self, **kwargs):
        self.calls.append(("watch" if kwargs.get("watch") else "list", kwargs.get("resource_version")))
        return self.responses.pop(0)


def test_watch_relists_after_410_gone_and_after_a_dropped_connection(tmp_path):
    gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired",
                                        "message": "too old resource version: 5 (9)"}}
    last = _WatchStream()
    core = _FakeCore([_Listing("5"), _WatchStream([gone]), _Listing("9"), _WatchStream(drop=True),
                      _Listing("12"), last])
    agent = NodeAgent(client.ApiClient(client.Configuration(host="https://127.0.0.1:6443")), "n", tmp_path)
    agent.core = core
    agent.start()
    deadline = time.monotonic() + 10
    while len(core.calls) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    agent.stop()
    assert time.monotonic() - started < 2  # stop() interrupts a watch that is waiting for events
    assert core.calls == [("list", None), ("watch", "5"), ("list", None), ("watch", "9"), ("list", None),
                          ("watch", "12")]


def test_mount_paths_are_rewritten_as_whole_path_prefixes(tmp_path):
    rewrite = PathRewriter({"/data": tmp_path / "pvc", "/data/cache": tmp_path / "scratch", "/out/": tmp_path / "o"})
    assert rewrite("/data") == str(tmp_path / "pvc")
    assert rewrite("--ckpt=/data/run1/ckpt.pt") == f"--ckpt={tmp_path / 'pvc'}/run1/ckpt.pt"
    assert rewrite("/data/cache/x") == f"{tmp_path / 'scratch'}/x"  # the nested mount wins
    assert rewrite("/out/a:/data/b") == f"{tmp_path / 'o'}/a:{tmp_path / 'pvc'}/b"
    for untouched in ("/database", "/srv/data/x", "data/x", "/data.bak"):
        assert rewrite(untouched) == untouched
    assert PathRewriter({})("/data/x") == "/data/x"


def test_var_references_expand_like_the_kubelet():
    env = {"A": "1", "B": "two"}
    assert expand_vars("$(A)-$(B)/$(C)", env) == "1-two/$(C)"  # undefined names stay as written
    assert expand_vars("$$(A) costs $$5", env) == "$(A) costs $5"
