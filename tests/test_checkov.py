"""checkov on the synthesized template: every failed check is fixed, or suppressed on its
resource with a reason (`stacks.checkov.skip`); any other failed check fails the suite, and so
does a suppression without a reason.

checkov runs from its own venv (.venv-checkov, `make setup`; requirements-checkov.txt says why),
offline: ``--skip-download`` keeps it from asking its vendor's platform for guidelines.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs

from app import build
from stacks import checkov
from stacks.nag import MIN_REASON_LENGTH

REPO = Path(__file__).resolve().parent.parent
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"

#: The app's variants whose templates differ in resources: the defaults (the web layer, the
#: build-output buckets' auto-delete) and destroy-on-demand-email (auto-delete on the data
#: buckets, an on-demand stream, the alarm e-mail). With web=false only resources go away.
VARIANTS: dict[str, dict[str, str]] = {
    "defaults": {},
    "destroy-on-demand-email": {"removal-policy": "destroy", "stream-mode": "on-demand",
                                "alarm-email": "ops@example.com"},
}


def synth(outdir: Path, **context: str) -> Path:
    """The app's template for ``context`` (crypto-live:* keys), as `cdk synth` writes it."""
    app = cdk.App(outdir=str(outdir), context={f"crypto-live:{k}": v for k, v in context.items()})
    stack = build(app)
    app.synth()
    return outdir / f"{stack.artifact_id}.template.json"


def scan(templates: Iterable[Path]) -> dict[str, Any]:
    """checkov's JSON report of ``templates`` (CloudFormation checks only)."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV.relative_to(REPO)} is missing: `make setup` creates it")
    files = [arg for template in templates for arg in ("-f", str(template))]
    run = subprocess.run([str(CHECKOV), *files, "--framework", "cloudformation", "--output",
                          "json", "--soft-fail", "--skip-download"],
                         capture_output=True, text=True, check=False, cwd=REPO)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    report = json.loads(run.stdout)
    # One framework gives one report; a list holds one per framework.
    report = next(r for r in report if r["check_type"] == "cloudformation") \
        if isinstance(report, list) else report
    assert isinstance(report, dict)
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    assert report["summary"]["resource_count"] > 0, report["summary"]
    return report


def unexplained(report: Mapping[str, Any]) -> list[str]:
    """Each failed check that no suppression explains: id, resource, file and what it checks."""
    return sorted(f"{check['check_id']} {check['resource']} in "
                  f"{Path(*Path(check['file_path']).parts[-2:])}: {check['check_name']}"
                  for check in report["results"]["failed_checks"])


def unreasoned(template: Path) -> list[str]:
    """Each suppression in ``template`` whose comment is missing or too short to be a reason
    (checkov itself accepts one with no comment)."""
    resources: dict[str, Any] = json.loads(template.read_text())["Resources"]
    return sorted(f"{entry.get('id')} on {logical_id}: {entry.get('comment')!r}"
                  for logical_id, resource in resources.items()
                  for entry in resource.get("Metadata", {}).get(checkov.METADATA_KEY, {})
                  .get("skip", [])
                  if len(str(entry.get("comment") or "")) < MIN_REASON_LENGTH)


@pytest.fixture(scope="module")
def app_templates(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("checkov")
    return [synth(root / name, **context) for name, context in VARIANTS.items()]


def test_every_failed_check_is_fixed_or_suppressed_on_its_resource(app_templates: list[Path]):
    report = scan(app_templates)
    failures = unexplained(report)
    assert not failures, ("checkov's failed checks that nothing explains (fix the resource, or "
                          "suppress the check on it with stacks.checkov.skip and a reason):\n"
                          + "\n".join(failures))
    # Every suppression that checkov applied carries the reason it was given.
    assert all(len(check["check_result"].get("suppress_comment", "")) >=
               MIN_REASON_LENGTH for check in report["results"]["skipped_checks"])


def test_every_suppression_in_the_template_has_a_reason(app_templates: list[Path]):
    weak = [line for template in app_templates for line in unreasoned(template)]
    assert not weak, "checkov suppressions without a reason:\n" + "\n".join(weak)


def test_the_scan_reports_a_failure_nothing_explains(tmp_path: Path):
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Scanned")
    sqs.CfnQueue(stack, "Plain")  # no encryption property: CKV_AWS_27 fails
    explained = sqs.CfnQueue(stack, "Explained")
    checkov.skip(explained, "CKV_AWS_27", "A queue of this test: the suppression is what is "
                 "being tested, not the queue")
    silent = sqs.CfnQueue(stack, "Silent")
    silent.add_metadata(checkov.METADATA_KEY, {"skip": [{"id": "CKV_AWS_27", "comment": ""}]})
    app.synth()
    template = tmp_path / "Scanned.template.json"
    failures = unexplained(scan([template]))
    assert any(line.startswith("CKV_AWS_27 AWS::SQS::Queue.Plain ") for line in failures)
    assert not any("Explained" in line or "Silent" in line for line in failures)
    assert unreasoned(template) == ["CKV_AWS_27 on Silent: ''"]


def test_a_suppression_needs_a_reason_and_a_resource():
    stack = cdk.Stack(cdk.App(), "s")
    queue = sqs.Queue(stack, "Queue")
    with pytest.raises(ValueError, match="needs a reason"):
        checkov.skip(queue, "CKV_AWS_27", "not needed")
    with pytest.raises(TypeError, match="no CloudFormation resource"):
        checkov.skip(stack, "CKV_AWS_27", "A stack is no resource, so this cannot be placed")
    checkov.skip_all(queue, {
        "CKV_AWS_27": "The first of two suppressions on one queue, both kept in its metadata",
        "CKV_AWS_999": "The second of two suppressions on one queue, both kept in its metadata"})
    with pytest.raises(ValueError, match="already skipped"):
        checkov.skip(queue, "CKV_AWS_27", "A second suppression of the same check on one queue")
    metadata = stack.resolve(checkov.cfn_resource(queue).get_metadata(checkov.METADATA_KEY))
    assert [entry["id"] for entry in metadata["skip"]] == ["CKV_AWS_27", "CKV_AWS_999"]
