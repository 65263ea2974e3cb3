"""The Markdown and HTML views and the evidence-backed checklist: pure, byte-stable, masked, honest."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from stagectl.report import checklist
from stagectl.report.html import render_html
from stagectl.report.markdown import filename_for, render_markdown
from stagectl.report.model import SmokePhase
from stagectl.report.render import parse_formats, render_views
from stagectl.report.store import read_report, write_report
from stagectl.results import CheckResult
from stagectl.secrets import Masker
from tests.data.sample_report import build_sample_report

CANARY = "canary-S3cr3t-9f1b7"


class _Html(HTMLParser):
    """Collects ids, local links, and anything that would load an external asset."""

    def __init__(self):
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []
        self.external: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "a" and a.get("href", "").startswith("#"):
            self.links.append(a["href"][1:])
        for key in ("src", "href", "xlink:href"):
            if a.get(key) and not a[key].startswith("#"):
                self.external.append(f"{tag} {key}={a[key]}")
        if tag in ("script", "link", "iframe", "img", "object", "embed"):
            self.external.append(tag)


def parse(html_text: str) -> _Html:
    parser = _Html()
    parser.feed(html_text)
    return parser


def test_markdown_file_name_follows_the_outcome():
    assert filename_for(build_sample_report()) == "STAGING_DEPLOYMENT_SUCCESS.md"
    assert filename_for(build_sample_report(failing=True)) == "STAGING_DEPLOYMENT_FAILED.md"
    interrupted = build_sample_report().model_copy(update={"outcome": "INTERRUPTED", "exit_code": 130})
    assert filename_for(interrupted) == "STAGING_DEPLOYMENT_FAILED.md"


def test_markdown_shows_failures_with_evidence_and_numbers_with_their_command():
    md = render_markdown(build_sample_report(failing=True))
    assert md.startswith("# Staging deployment: FAILED\n")
    failures = md.split("## Failures", 1)[1].split("## Measurements", 1)[0]
    assert "`smoke.ratelimit.enforced` — fail" in failures
    assert "(no X-RateLimit-Limit header)" in failures  # the probe transcript, not just a verdict
    assert "Reproduce with: `stagectl smoke --json`" in failures
    assert "measured by `stagectl bench --requests 500 --concurrency 10`" in md
    assert "| GET /health | 500 | 10 | 3.1 | 6.7 | 11.2 | 455.0 | 0 | p95 < 100 ms | pass |" in md
    assert "| bare uvicorn GET / (ceiling) |" in md
    assert "| database-down | database | MINIMAL | MINIMAL | ok | 0.770 s | 3.180 s | yes | pass |" in md


def test_markdown_of_a_passing_run_has_no_failures_section():
    md = render_markdown(build_sample_report())
    assert md.startswith("# Staging deployment: SUCCESS\n") and "## Failures" not in md


def test_markdown_evidence_with_backticks_keeps_its_fence():
    report = build_sample_report(failing=True)
    smoke = report.phases.smoke
    odd = CheckResult(id="smoke.odd", section="odd", status="fail", message="m", evidence="```\nnested\n```")
    report = report.model_copy(update={"phases": report.phases.model_copy(
        update={"smoke": smoke.model_copy(update={"checks": [*smoke.checks, odd]})})})
    md = render_markdown(report)
    assert "````\n```\nnested\n```\n````" in md


@pytest.mark.parametrize("failing", [False, True])
def test_rerendering_the_same_report_json_is_byte_identical(tmp_path, failing):
    path = write_report(build_sample_report(failing=failing), tmp_path / "report.json")
    first = render_views(read_report(path), tmp_path / "a")
    second = render_views(read_report(path), tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in second] and len(first) == 3
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_views_do_not_depend_on_the_clock_or_environment(monkeypatch):
    report = build_sample_report(failing=True)
    before = (render_markdown(report), render_html(report))
    monkeypatch.setenv("TZ", "America/Santiago")
    monkeypatch.setenv("LANG", "es_CL.UTF-8")
    assert (render_markdown(report), render_html(report)) == before


def test_secrets_are_masked_in_every_view(tmp_path):
    report = build_sample_report(failing=True, secret=CANARY)
    raw = render_markdown(report) + render_html(report)
    assert raw.count(CANARY) >= 4  # planted in a message, evidence (×2) and a service version
    written = render_views(report, tmp_path, masker=Masker([CANARY]))
    assert {p.name for p in written} == {"STAGING_DEPLOYMENT_FAILED.md", "report.html", "junit.xml"}
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert CANARY not in text, path.name
        assert "****" in text, path.name


def test_stale_markdown_of_the_other_outcome_is_removed(tmp_path):
    render_views(build_sample_report(), tmp_path, ["md"])
    assert (tmp_path / "STAGING_DEPLOYMENT_SUCCESS.md").exists()
    render_views(build_sample_report(failing=True), tmp_path, ["md"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["STAGING_DEPLOYMENT_FAILED.md"]


def test_parse_formats():
    assert parse_formats("all") == ("md", "html", "junit")
    assert parse_formats("junit, md") == ("md", "junit")
    with pytest.raises(Exception, match="unknown --format pdf"):
        parse_formats("md,pdf")


def test_html_is_self_contained_with_three_inline_charts_and_sign_off():
    html_text = render_html(build_sample_report(failing=True))
    doc = parse(html_text)
    assert doc.external == []
    assert doc.tags.count("svg") == 3
    assert "@page" in html_text and "size: A4" in html_text and "break-before: page" in html_text
    sign_off = html_text.split('id="sign-off"', 1)[1]
    for field in ("Name", "Role", "Date", "Signature"):
        assert sign_off.count(f">{field}</div>") == 3


def test_html_checklist_has_the_15_sections_in_order():
    html_text = render_html(build_sample_report())
    titles = re.findall(r'<h3 id="checklist-\d+">(\d+)\. ([^<]+)</h3>', html_text)
    assert [int(n) for n, _ in titles] == list(range(1, 16))
    assert titles[0][1] == "Pre-Deployment Verification" and titles[-1][1] == "Metrics &amp; Success Criteria"


def test_every_evidence_link_points_at_an_element_that_exists():
    doc = parse(render_html(build_sample_report(failing=True)))
    assert len(set(doc.ids)) == len(doc.ids), "duplicate ids"
    assert doc.links, "no evidence links at all"
    missing = sorted(set(doc.links) - set(doc.ids))
    assert missing == []


def test_ticked_items_link_to_passing_evidence_and_the_rest_say_not_verified():
    report = build_sample_report(omit=("chaos", "bench"))
    html_text = render_html(report)
    doc = parse(html_text)
    items = re.findall(r'<div class="item (\w+)" id="item-([\d.]+)">(.*?)</div>', html_text, flags=re.S)
    assert len(items) == sum(len(i) for _, i in checklist.SECTIONS)
    evidence_ids = set(doc.ids)
    for state, number, body in items:
        links = re.findall(r'href="#([^"]+)"', body)
        if state == "verified":
            assert "☑" in body and links, number
            assert all(link in evidence_ids for link in links), number
        else:
            assert "☑" not in body, number
            assert "not verified" in body or "FAILED" in body, number
    states = {number: state for state, number, _ in items}
    for number in ("10.2", "10.3", "15.1", "15.2", "15.3"):  # backed only by the omitted phases
        assert states[number] == "not_verified"
    assert states["10.1"] == "verified"


def test_item_states_from_evidence():
    report = build_sample_report(failing=True)
    by_text = {i.text: i for _, items in checklist.evaluate(report) for i in items}
    assert by_text["Rate limiting enforced"].state == "failed"
    assert by_text["Automated smoke tests: all passing"].state == "failed"
    assert by_text["Grafana running and healthy"].state == "not_verified"  # only a skip
    assert by_text["Testing sign-off"].state == "not_verified" and by_text["Testing sign-off"].manual
    assert by_text["Static validation: 80+ checks, all passing"].state == "verified"


def test_counted_claim_needs_the_count():
    report = build_sample_report()
    few = report.phases.validate_.model_copy(update={"checks": report.phases.validate_.checks[:79]})
    report = report.model_copy(update={"phases": report.phases.model_copy(update={"validate_": few})})
    item = next(i for _, items in checklist.evaluate(report) for i in items if i.text.startswith("Static validation"))
    assert item.state == "not_verified" and item.note == "79 passing checks, 80 needed"


def test_interrupted_phase_does_not_back_a_whole_phase_claim():
    report = build_sample_report()
    cut = SmokePhase(status="interrupted", reason="stopped by SIGINT", checks=report.phases.smoke.checks[:5])
    report = report.model_copy(update={"phases": report.phases.model_copy(update={"smoke": cut})})
    item = next(i for _, items in checklist.evaluate(report) for i in items if i.text.startswith("Automated smoke"))
    assert item.state == "not_verified" and "interrupted" in item.note
