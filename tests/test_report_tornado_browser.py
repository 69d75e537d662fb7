"""The tornado chart of the ``uncertain:`` quickstart, seen in a real browser (issue 17).

``scenarios/quickstart-uncertain.yaml`` is run for real through the API, made fast (one size,
100 ms runs, four draws, short sizing evaluations, no cost sensitivity or what-ifs), and its
``report.html`` is opened in headless Chromium, offline, with a probe
script added to a copy of the page. After the load event the probe finds the tornado chart
(the ``<img>`` whose alt text starts "Tornado chart") in the "Uncertainty in the inputs"
section, scrolls it into view and records its decoded size, its laid-out box, its computed
visibility, its place on the page, and the share of its pixels that are not white (drawn on
a canvas: a blank or broken PNG has none). ``--dump-dom`` hands the record back. A screenshot
of the unmodified report, in a window tall enough to reach the chart, must show drawing in the
chart's box.

Skipped with the reason when /usr/bin/chromium is absent (Debian package ``chromium``).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import numpy as np
import pytest
from test_report_browser import CHROMIUM, chromium

import epcsim
from epcsim.report import write_report

ROOT = Path(__file__).resolve().parent.parent
UNCERTAIN = ROOT / "scenarios" / "quickstart-uncertain.yaml"
FAST = ["vm.sizes=[DC2s_v3]", "simulation.duration=100 ms",
        "simulation.replications=2", "uncertainty.draws=4", "slo.as_of=2026-11-30"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="headless browser test needs /usr/bin/chromium "
                                       "(Debian package `chromium`), which is not installed")

PROBE = """<script>
window.addEventListener('load', function () {
  var out = {found: false};
  var img = Array.prototype.find.call(document.images, function (i) {
    return (i.alt || '').indexOf('Tornado chart') === 0;
  });
  if (img) {
    img.scrollIntoView({block: 'center'});
    var r = img.getBoundingClientRect();
    var s = getComputedStyle(img);
    var h2s = Array.prototype.filter.call(document.querySelectorAll('h2'), function (h) {
      return h.compareDocumentPosition(img) & Node.DOCUMENT_POSITION_FOLLOWING;
    });
    var c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    var ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    var d = ctx.getImageData(0, 0, c.width, c.height).data, ink = 0;
    for (var k = 0; k < d.length; k += 4) {
      if (d[k + 3] > 0 && Math.min(d[k], d[k + 1], d[k + 2]) < 200) { ink++; }
    }
    out = {found: true, complete: img.complete, natural: [img.naturalWidth, img.naturalHeight],
           box: [r.width, r.height], top: r.top, viewport: window.innerHeight,
           page_top: r.top + window.scrollY, page_left: r.left + window.scrollX,
           visibility: s.visibility, display: s.display, opacity: s.opacity,
           section: h2s.length ? h2s[h2s.length - 1].textContent : '',
           ink: ink / (c.width * c.height)};
  }
  document.documentElement.setAttribute('data-probe', JSON.stringify(out));
});
</script>"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The study (short runs) and the sizing with the uncertain inputs propagated, made cheap:
    # no cost sensitivity, what-ifs or knee, and short sizing evaluations.
    out = tmp_path_factory.mktemp("tornado") / "uncertain"
    scn = epcsim.load_scenario(UNCERTAIN, FAST)
    study = epcsim.run_study(scn, out_dir=out, workers=1)
    sizing = epcsim.recommend(scn, sensitivity=False, what_ifs=False, knee=False,
                              measured_ops=500, workers=1)
    assert sizing.uncertainty and sizing.uncertainty["tornado"], "no tornado was drawn"
    html_path, _ = write_report(out, study.summary, sizing,
                                {"name": scn.name,
                                 "scenario": scn.model_dump(mode="json", by_alias=True)})
    return html_path


def _probe(report: Path, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text("utf-8").replace("<head>", "<head>" + PROBE, 1),
                      "utf-8")
    out = chromium(tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom",
                   probed.as_uri())
    assert out.returncode == 0, out.stderr[-2000:]
    match = re.search(r'data-probe="([^"]*)"', out.stdout)
    assert match, "the load event never fired: " + out.stdout[:500]
    return json.loads(html.unescape(match.group(1))), probed


def test_the_tornado_chart_is_in_the_page_decoded_laid_out_and_drawn(report: Path,
                                                                      tmp_path: Path) -> None:
    probe, _ = _probe(report, tmp_path)
    assert probe["found"], "no <img> with alt text 'Tornado chart...' in the report"
    assert probe["section"] == "Uncertainty in the inputs"
    assert probe["complete"] and probe["natural"][0] > 300 and probe["natural"][1] > 150
    width, height = probe["box"]
    assert width > 300 and height > 150  # laid out at a readable size
    assert probe["visibility"] == "visible" and probe["display"] != "none"
    assert float(probe["opacity"]) == 1.0
    assert 0 <= probe["top"] < probe["viewport"]  # scrolled into view: on screen
    assert 0.01 < probe["ink"] < 0.9  # bars, axes and labels; not blank, not a black box


def test_a_screenshot_shows_the_chart_where_the_page_lays_it_out(report: Path,
                                                                 tmp_path: Path) -> None:
    # A window tall enough to hold the page down to the chart, then the chart's box (from the
    # probe) cut out of the screenshot of the unmodified report: drawing, not white space.
    probe, _ = _probe(report, tmp_path / "probe")
    top, left = round(probe["page_top"]), round(probe["page_left"])
    width, height = (round(x) for x in probe["box"])
    window_h = top + height + 40
    assert window_h < 16_000, "the chart is too far down the page for one screenshot"
    shot = tmp_path / "shot.png"
    out = chromium(tmp_path / "profile", f"--window-size=1200,{window_h}", "--hide-scrollbars",
                   "--virtual-time-budget=10000", f"--screenshot={shot}", report.as_uri())
    assert out.returncode == 0 and shot.is_file(), out.stderr[-2000:]
    img = mpimg.imread(str(shot))[..., :3]
    chart = img[top:top + height, left:left + width]
    assert chart.shape[:2] == (height, width)
    non_white = float(np.mean(chart.min(axis=2) < 0.9))
    assert chart.std() > 0.05 and 0.05 < non_white < 0.9


def test_the_probe_fails_when_the_chart_is_blank_or_missing(report: Path,
                                                            tmp_path: Path) -> None:
    # The checks above must be able to fail: a white PNG in place of the chart, then no chart.
    import base64
    import io

    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(6, 3))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    white = base64.b64encode(buf.getvalue()).decode("ascii")
    text = report.read_text("utf-8")
    blanked = re.sub(r'(<img src="data:image/png;base64,)[^"]*(" alt="Tornado chart)',
                     lambda m: m.group(1) + white + m.group(2), text, count=1)
    assert blanked != text
    page = tmp_path / "blank.html"
    page.write_text(blanked, "utf-8")
    probe, _ = _probe(page, tmp_path / "a")
    assert probe["found"] and probe["ink"] < 0.01
    page.write_text(text.replace('alt="Tornado chart', 'alt="Something else'), "utf-8")
    probe, _ = _probe(page, tmp_path / "b")
    assert not probe["found"]
