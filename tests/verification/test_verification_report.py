"""`python -m verification`: one table, one JSON report, a non-zero exit when any target fails; and the readers
the checks share (requirement lines, declared-constraint explanations)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import verification.__main__ as cli
from verification.explain import violations
from verification.registry import BY_NAME, TARGETS, Target
from verification.requirements import lock_problems, parse
from verification.result import CheckResult, verdict


def _result(name: str, failures: list[str]) -> CheckResult:
    return verdict(name, f"check {name}", summary=f"{name} evidence", evidence={"n": 1}, failures=failures, started=0.0)


def _targets(monkeypatch: pytest.MonkeyPatch, *targets: Target) -> None:
    monkeypatch.setattr(cli, "TARGETS", targets)
    monkeypatch.setattr(cli, "BY_NAME", {target.name: target for target in targets})


def _crash() -> CheckResult:
    raise RuntimeError("planted")


def test_the_registry_numbers_follow_the_issue_and_names_are_unique() -> None:
    assert [target.number for target in TARGETS] == [1, 2, 3, 4, 5, 6]
    assert len(BY_NAME) == len(TARGETS)


def test_all_passing_exits_0_with_one_table_and_a_json_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _targets(
        monkeypatch,
        Target(1, "one", "p1", lambda: _result("one", [])),
        Target(2, "two", "p2", lambda: _result("two", [])),
    )
    assert cli.main(["--report", str(tmp_path / "r.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [cell.strip() for cell in lines[0].split(" | ")] == ["target", "check", "verdict", "seconds", "evidence"]
    assert [line.split(" | ")[2].strip() for line in lines[2:4]] == ["PASS", "PASS"]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] is True
    assert [t["target"] for t in report["targets"]] == ["one", "two"]


def test_a_failing_or_crashing_target_exits_1_and_is_reported_with_its_failures(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _targets(
        monkeypatch,
        Target(1, "ok", "p", lambda: _result("ok", [])),
        Target(2, "bad", "p", lambda: _result("bad", ["the fault, named"])),
        Target(3, "boom", "p", _crash),
    )
    assert cli.main(["--report", str(tmp_path / "r.json")]) == 1
    out = capsys.readouterr().out
    assert "the fault, named" in out
    assert "the check crashed: RuntimeError: planted" in out
    verdicts = {t["target"]: t["verdict"] for t in json.loads((tmp_path / "r.json").read_text())["targets"]}
    assert verdicts == {"ok": "PASS", "bad": "FAIL", "boom": "FAIL"}


def test_background_targets_run_beside_the_rest_and_keep_table_order(monkeypatch: pytest.MonkeyPatch) -> None:
    def pause(name: str) -> CheckResult:
        time.sleep(0.3)
        return _result(name, [])

    monkeypatch.setattr(cli, "run_in_child", lambda target: pause(target.name))
    slow = Target(1, "slow", "p", lambda: pause("never called in process"), background=True)
    fast = Target(2, "fast", "p", lambda: pause("fast"))
    began = time.perf_counter()
    results = cli.run([slow, fast])
    assert [r.target for r in results] == ["slow", "fast"]
    assert time.perf_counter() - began < 0.55


def test_a_target_run_in_a_child_process_reports_back_through_json() -> None:
    result = cli.run_in_child(BY_NAME["valid_input"])
    assert result.target == "valid_input"
    assert result.passed, result.failures
    assert result.evidence["batch"] is True


def test_settings_exported_in_the_shell_do_not_reach_the_checks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A developer's shell with keys exported (tox passes CHURN_* on): the in-process committed app would answer
    # every check's request 401 (measured: the contract and valid-input targets failed, 58 failures).
    monkeypatch.setenv("CHURN_API_KEYS", "a-developers-key")
    assert cli.main(["valid_input", "--report", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] is True, report


def test_only_the_chosen_targets_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _targets(monkeypatch, Target(1, "one", "p", lambda: _result("one", [])), Target(2, "two", "p", _crash))
    assert cli.main(["one", "--report", str(tmp_path / "r.json")]) == 0
    assert [t["target"] for t in json.loads((tmp_path / "r.json").read_text())["targets"]] == ["one"]


def test_an_unknown_target_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["nonsense"])
    assert exit_info.value.code == 2


def test_requirement_lines_are_read_with_continuations_markers_and_options() -> None:
    text = "a==1.0 \\\n    --hash=sha256:ab\nB_c >= 2 ; python_version < '4'\n-e ./local\n# comment\nd===3\n"
    requirements, others = parse(text)
    assert [(r.name, r.version, r.marker, r.hashes) for r in requirements] == [
        ("a", "1.0", None, ("sha256:ab",)),
        ("b-c", None, "python_version < '4'", ()),
        ("d", None, None, ()),
    ]
    assert others == ["line 4: -e ./local"]
    assert len(lock_problems(text)) == 5  # b-c and d unpinned and unhashed, -e not a pin


def test_explanations_name_the_broken_bound_through_refs_and_nullable_unions() -> None:
    spec = {
        "components": {
            "schemas": {
                "C": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["t"],
                    "properties": {
                        "t": {"type": "integer", "minimum": 0, "maximum": 72},
                        "x": {"anyOf": [{"type": "number", "maximum": 9.5}, {"type": "null"}]},
                    },
                }
            }
        }
    }
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/C"}}}}
    body = {"items": [{"t": 73, "x": 10, "y": 1}, {"x": None}, {"t": 1.0}]}
    assert violations(body, schema, spec) == [
        "body.items[0].t=73 is above the maximum 72",
        "body.items[0].x=10 is above the maximum 9.5",
        "body.items[0].y is not a declared property",
        "body.items[1].t is missing",
    ]
