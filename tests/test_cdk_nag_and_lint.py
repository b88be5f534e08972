"""The synthesized app passes cdk-nag (AwsSolutions) and cfn-lint, offline and without Docker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs

from app import build
from stacks import nag


def synth_checked(outdir: Path, **context: str) -> Path:
    app = cdk.App(outdir=str(outdir), context={f"crypto-live:{k}": v for k, v in context.items()})
    stack = build(app)
    nag.check(app)
    app.synth()
    return outdir / f"{stack.artifact_id}.template.json"


@pytest.mark.parametrize("context", [{}, {"removal-policy": "destroy", "stream-mode": "on-demand",
                                          "alarm-email": "ops@example.com"}, {"web": "false"}],
                         ids=["defaults", "destroy-on-demand-email", "no-web-layer"])
def test_no_cdk_nag_finding_is_left_unacknowledged(tmp_path: Path, context: dict[str, str]):
    assert synth_checked(tmp_path, **context).exists()


def test_a_new_finding_stops_synthesis(tmp_path: Path):
    app = cdk.App(outdir=str(tmp_path))
    stack = build(app)
    sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED)
    nag.check(app)
    with pytest.raises(RuntimeError, match="AwsSolutions-SQS"):
        app.synth()


def test_an_acknowledgement_needs_a_reason():
    stack = cdk.Stack(cdk.App(), "s")
    with pytest.raises(ValueError, match="needs a reason"):
        nag.acknowledge(stack, "S1", "not needed")


def test_cfn_lint_finds_no_error_in_the_template(tmp_path: Path):
    template = synth_checked(tmp_path)
    # cfnlint has no __main__ module: call the console script's entry point.
    lint = subprocess.run([sys.executable, "-c", "import sys, cfnlint.runner; "
                           "sys.exit(cfnlint.runner.main())", "--non-zero-exit-code", "error",
                           "--format", "parseable", str(template)],
                          capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # Warnings left come from aws-cdk-lib's own resources (custom resource providers, the
    # Firehose CIDR mapping, the log bucket's ACL, the DependsOn lambda.Function adds on its
    # role), never from one this app defines itself.
    ours = [line for line in lint.stdout.splitlines()
            if ":W" in line and not any(cdk_own in line for cdk_own in (
                "CustomS3AutoDeleteObjects", "CustomCDKBucketDeployment",
                "awscdkawskinesisfirehose", "ConsumerRole", "ApiRole", "AccessControl"))]
    assert ours == []
