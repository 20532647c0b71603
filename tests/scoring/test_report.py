"""report.html renders in headless Chromium, fetches nothing, and shows the key numbers."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from scoring.report import write_report
from scoring.weekly import Scorer
from tests.scoring.kit import data_rows, weekly, write_csv

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def _chromium(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    command = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=True)


@pytest.fixture(scope="module")
def report(scorer: Scorer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    directory = tmp_path_factory.mktemp("report")
    rows = data_rows()[:3000]
    for row in rows:
        row["Contract"] = "Month-to-month"
    rows[5]["tenure"] = "300"  # one rejected row
    outcome = weekly(scorer, write_csv(directory / "week.csv", rows), directory / "out", max_rejected_share=1)
    return write_report(outcome.summary, directory / "out"), outcome.summary


def test_the_page_is_self_contained(report: tuple[Path, dict[str, object]]) -> None:
    page = report[0].read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing to fetch
    assert page.count('src="data:image/png;base64,') == 4  # risk, bands, reasons, drift


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is installed by .ci/run")
def test_chromium_renders_the_key_numbers(report: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    page, summary = report
    dom = _chromium(page, tmp_path, "--dump-dom").stdout
    assert "Rows read <b>3000</b>, scored <b>2999</b>, rejected <b>1</b>" in dom
    for band in summary["bands"]:  # type: ignore[attr-defined]
        assert f"<td>{band['band']}</td><td>{band['size']}</td>" in dom
    assert "<td>contract</td><td>" in dom
    assert '<span class="act">act</span>' in dom
    shot = tmp_path / "shot.png"
    _chromium(page, tmp_path, f"--screenshot={shot}", "--window-size=1000,1400")
    pixels = image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (1400, 1000)
    not_white = np.any(pixels < 0.9, axis=2)
    assert not_white.mean() > 0.05  # text, tables and charts drew, not a blank page
    blue = (pixels[..., 2] > 0.5) & (pixels[..., 0] < 0.4)  # the charts' bars (#4477aa)
    assert blue.sum() > 5000
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)
