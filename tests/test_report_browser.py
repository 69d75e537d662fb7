"""report.html in a real browser: headless Chromium loads it from disk, offline.

Three checks, each in a fresh Chromium with an empty profile and networking features off:
1. the unmodified report loads with no console messages and no failed resource loads
   (``--enable-logging=stderr --v=0`` prints every console message as ``CONSOLE`` lines);
2. a copy of the report with one probe script added at the top of <head> (the report itself
   has no scripts) records, after the load event, every image's decoded size, every resource
   the page fetched and every error event; ``--dump-dom`` prints the result in a data
   attribute. Every image must have decoded (naturalWidth > 0), nothing may have been fetched
   from the network, and no error may have fired;
3. a screenshot of the unmodified report is not blank (pixel variance, share of non-white).

Skipped with the reason when /usr/bin/chromium is absent (Debian package ``chromium``).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from test_report import SCENARIO, make_results

from epcsim.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="headless browser test needs /usr/bin/chromium "
                                       "(Debian package `chromium`), which is not installed")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--disable-extensions", "--mute-audio"]

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target && e.target !== window ? (e.target.tagName + ' ' + (e.target.src || ''))
                                          : String(e.message);
  window.__errors.push(t.slice(0, 200));
}, true);
window.addEventListener('load', function () {
  var imgs = Array.prototype.map.call(document.images, function (i) {
    return [i.complete, i.naturalWidth, i.naturalHeight];
  });
  var res = performance.getEntriesByType('resource').map(function (r) { return r.name; });
  document.documentElement.setAttribute('data-probe',
      JSON.stringify({imgs: imgs, resources: res, errors: window.__errors}));
});
</script>"""


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile.mkdir(parents=True, exist_ok=True)
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=90)


@pytest.fixture(scope="module")
def report_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser") / "kvstore"
    folder.mkdir()
    objs = make_results(folder)
    html_path, _ = write_report(folder, objs["summary"], objs["sizing"],
                                {"name": "kvstore", "scenario": SCENARIO}, objs["mrc"])
    return html_path


def test_loads_without_console_errors(report_path: Path, tmp_path: Path) -> None:
    out = chromium(tmp_path / "profile", "--enable-logging=stderr", "--v=0",
                   "--virtual-time-budget=5000", "--dump-dom", report_path.as_uri())
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Recommendation and reasons" in out.stdout  # the page really was rendered
    console = [ln for ln in out.stderr.splitlines()
               if "CONSOLE" in ln or "Failed to load resource" in ln or "net::ERR" in ln]
    assert console == []


def test_every_image_decodes_and_nothing_is_fetched(report_path: Path, tmp_path: Path
                                                    ) -> None:
    text = report_path.read_text("utf-8")
    probed = tmp_path / "probed.html"
    probed.write_text(text.replace("<head>", "<head>" + PROBE, 1), "utf-8")
    out = chromium(tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom",
                   probed.as_uri())
    assert out.returncode == 0, out.stderr[-2000:]
    match = re.search(r'data-probe="([^"]*)"', out.stdout)
    assert match, "the load event never fired: " + out.stdout[:500]
    probe = json.loads(html.unescape(match.group(1)))
    assert probe["errors"] == []
    assert [r for r in probe["resources"] if not r.startswith("data:")] == []
    n_images = text.count("<img ")
    assert len(probe["imgs"]) == n_images >= 7
    for complete, width, height in probe["imgs"]:
        assert complete and width > 300 and height > 150


def test_screenshot_is_not_blank(report_path: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    out = chromium(tmp_path / "profile", "--window-size=1200,2400", "--hide-scrollbars",
                   "--virtual-time-budget=5000", f"--screenshot={shot}", report_path.as_uri())
    assert out.returncode == 0 and shot.is_file(), out.stderr[-2000:]
    img = mpimg.imread(str(shot))[..., :3]
    assert img.shape[:2] == (2400, 1200)
    non_white = float(np.mean(img.min(axis=2) < 0.9))
    assert img.std() > 0.05 and non_white > 0.05


def test_the_probe_detects_a_broken_image_and_a_network_fetch(report_path: Path,
                                                              tmp_path: Path) -> None:
    # The check above must be able to fail: corrupt one image, add one remote image.
    text = report_path.read_text("utf-8")
    text = text.replace('src="data:image/png;base64,iVBOR', 'src="data:image/png;base64,AAAA', 1)
    text = text.replace("</body>", '<img src="http://127.0.0.1:9/x.png"></body>', 1)
    probed = tmp_path / "broken.html"
    probed.write_text(text.replace("<head>", "<head>" + PROBE, 1), "utf-8")
    out = chromium(tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom",
                   probed.as_uri())
    match = re.search(r'data-probe="([^"]*)"', out.stdout)
    assert match
    probe = json.loads(html.unescape(match.group(1)))
    widths = [w for _, w, _ in probe["imgs"]]
    assert widths.count(0) == 2 and len(probe["errors"]) == 2
    assert any(r.startswith("http://127.0.0.1:9/") for r in probe["resources"])
