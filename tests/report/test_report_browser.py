"""The report as a user opens it: a real browser (headless Chromium, from scripts/test-tools) renders
the page, and every figure in it loads as an image; nothing is fetched from anywhere."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess

import pytest

from hyperprune.report import write_report
from report_support import simulated_workdir

TOOLS_HINT = "run scripts/test-tools (make test does) to install it"
# Added to a copy of the page: once everything has loaded, what the browser made of every image
# and every reference goes into the DOM that --dump-dom prints.
PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth}));
  const refs = [...document.querySelectorAll("[src],[href]")].map(e => e.getAttribute("src") || e.getAttribute("href"));
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({title: document.title, images, refs, text: document.body.innerText.length});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail(f"chromium not found (Debian package chromium): {TOOLS_HINT}", pytrace=False)
    return found


def open_in_browser(page, tmp_path) -> dict:
    probe = tmp_path / "opened.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    command = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(tmp_path)})
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the page did not finish loading in the browser (rc {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.parametrize("decisions", [None, 12], ids=["finished", "interrupted"])
def test_the_report_renders_in_a_browser_with_every_figure_loaded(tmp_path, decisions):
    workdir, _ = simulated_workdir(tmp_path / "run", max_decisions=decisions)
    seen = open_in_browser(write_report(workdir.root), tmp_path)
    assert seen["title"] == "Hyperprune: simulated" and seen["text"] > 500
    assert {i["alt"] for i in seen["images"]} == {
        "Lyapunov spectra", "LS distance at the first rung vs validation metric", "Search timeline", "Sparsity per layer",
    }
    assert all(i["complete"] and i["width"] > 0 for i in seen["images"]), seen["images"]
    assert all(ref.startswith("data:image/png;base64,") for ref in seen["refs"]), "the page references something outside"
