"""The shared JUnit writer: well-formed XML, counts, stable ids, masking, atomic write."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from stagectl.report.junit import junit_xml, write_junit
from stagectl.results import CheckResult
from stagectl.secrets import Masker

RESULTS = [
    CheckResult("a.ok", "alpha", "pass", "fine", duration_ms=5),
    CheckResult("a.bad", "alpha", "fail", "broken <here> & there", location="f.yml:3", hint="fix it", evidence="log\x1btail"),
    CheckResult("a.boom", "alpha", "error", "raised ValueError"),
    CheckResult("a.later", "alpha", "skip", "tool missing"),
    CheckResult("a.bad", "alpha", "fail", "second result with the same id"),
]


def _parse(text: str) -> ET.Element:
    return ET.fromstring(text.encode("utf-8"))


def test_counts_and_elements_per_status():
    root = _parse(junit_xml({"stagectl.validate": RESULTS, "stagectl.smoke": RESULTS[:1]}))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "2", "1")
    assert root.get("skipped") is None  # not allowed on <testsuites> by the Jenkins/Ant schema
    assert [s.get("skipped") for s in root.findall("testsuite")] == ["1", "0"]
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["stagectl.validate", "stagectl.smoke"]
    cases = suites[0].findall("testcase")
    assert [c.get("name") for c in cases] == ["a.ok", "a.bad", "a.boom", "a.later", "a.bad#2"]
    assert cases[0].find("failure") is None and cases[0].find("skipped") is None
    assert cases[1].find("failure").get("message") == "broken <here> & there"
    assert "location: f.yml:3" in cases[1].find("failure").text and "hint: fix it" in cases[1].find("failure").text
    assert cases[2].find("error") is not None
    assert cases[3].find("skipped").get("message") == "tool missing"
    assert cases[0].get("classname") == "stagectl.validate.alpha"


def test_evidence_in_system_out_with_control_characters_replaced():
    case = _parse(junit_xml([("s", RESULTS)])).find("testsuite").findall("testcase")[1]
    out = case.find("system-out").text
    assert "evidence:" in out and "log\N{REPLACEMENT CHARACTER}tail" in out


def test_masker_applies_to_every_text_field():
    secret = "s3cr3t-value-123"
    leaky = [CheckResult(f"x.{secret}", "sec", "fail", f"found {secret}", hint=secret, evidence=secret)]
    text = junit_xml({f"suite-{secret}": leaky}, masker=Masker([secret]))
    assert secret not in text
    assert "****" in text


def test_ids_are_stable_across_runs():
    assert junit_xml({"s": RESULTS}) == junit_xml({"s": list(RESULTS)})


def test_write_junit_is_atomic_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "out" / "validate.xml"
    write_junit(target, {"s": RESULTS})
    first = target.read_text(encoding="utf-8")
    write_junit(target, {"s": RESULTS[:1]})
    assert _parse(target.read_text(encoding="utf-8")).get("tests") == "1"
    assert first != target.read_text(encoding="utf-8")
    assert [p.name for p in target.parent.iterdir()] == ["validate.xml"]
