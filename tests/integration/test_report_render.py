"""End to end: `stagectl report` re-renders a report.json through the real CLI, and the HTML renders
in headless Chromium to a PNG and a multi-page A4 PDF."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from stagectl.report.html import render_html
from stagectl.report.store import write_report
from stagectl.secrets import Masker
from tests.data.sample_report import build_sample_report

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration
CANARY = "canary-S3cr3t-9f1b7"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WINDOW = (1240, 1754)  # A4 at 150 dpi


def stagectl(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "stagectl", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def test_stagectl_report_cli_renders_all_views_byte_identically(tmp_path):
    report_path = write_report(build_sample_report(failing=True), tmp_path / "reports" / "report.json")
    first = stagectl("report", str(report_path), "--out", str(tmp_path / "a"), cwd=tmp_path)
    second = stagectl("report", str(report_path), "--out", str(tmp_path / "b"), "--format", "all", cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["STAGING_DEPLOYMENT_FAILED.md", "junit.xml", "report.html"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_stagectl_report_defaults_and_errors(tmp_path):
    write_report(build_sample_report(), tmp_path / "reports" / "report.json")
    done = stagectl("report", "--format", "md", cwd=tmp_path)  # default: reports/report.json, out = its dir
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "reports" / "STAGING_DEPLOYMENT_SUCCESS.md").is_file()
    assert not (tmp_path / "reports" / "report.html").exists()
    bad_format = stagectl("report", "--format", "pdf", cwd=tmp_path)
    missing = stagectl("report", str(tmp_path / "nope.json"), cwd=tmp_path)
    assert bad_format.returncode == 2 and "unknown --format pdf" in bad_format.stderr
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_stagectl_report_masks_secrets_from_the_environment(tmp_path):
    write_report(build_sample_report(failing=True, secret=CANARY), tmp_path / "report.json")  # unmasked on disk
    env_secret = {"POSTGRES_PASSWORD": CANARY}
    done = subprocess.run([sys.executable, "-m", "stagectl", "report", str(tmp_path / "report.json")],
                          cwd=tmp_path, env={**os.environ, **env_secret, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for name in ("STAGING_DEPLOYMENT_FAILED.md", "report.html", "junit.xml"):
        assert CANARY not in (tmp_path / name).read_text(encoding="utf-8"), name


def run_chromium(tmp_path: Path, *args: str) -> None:
    """One headless Chromium run in its own process group, killed whole if it overstays."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=90)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # chromium's helpers share the group
        except ProcessLookupError:
            pass
        proc.wait()
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y --no-install-recommends chromium)")
def test_html_renders_in_headless_chromium_to_png_and_multipage_pdf(tmp_path):
    html_path = tmp_path / "report.html"
    html_path.write_text(render_html(build_sample_report(failing=True, secret=CANARY), Masker([CANARY])),
                         encoding="utf-8")
    png, pdf = tmp_path / "report.png", tmp_path / "report.pdf"
    run_chromium(tmp_path, f"--screenshot={png}", f"--window-size={WINDOW[0]},{WINDOW[1]}", html_path.as_uri())
    run_chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", html_path.as_uri())

    with Image.open(png) as image:
        assert image.size == WINDOW
        rgb = image.convert("RGB")
        raw = rgb.tobytes()
    pixels = list(zip(raw[0::3], raw[1::3], raw[2::3]))
    ink = sum(1 for r, g, b in pixels if r + g + b < 600) / len(pixels)
    assert ink > 0.02, f"the page is nearly blank ({ink:.1%} ink)"
    red_badge = sum(1 for r, g, b in pixels if r > 170 and g < 70 and b < 70)  # the FAILED badge (#c62828)
    assert red_badge > 200

    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page\b", data))
    assert pages >= 2, f"{pages} page(s)"
    media = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert media is not None
    width, height = float(media.group(1)), float(media.group(2))
    assert abs(width - 595.3) < 2 and abs(height - 841.9) < 2, f"not A4: {width}x{height} pt"
