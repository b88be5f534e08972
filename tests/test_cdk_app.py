"""The CDK app: settings from context, validated, and the resources they produce."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from dataclasses import fields
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

import stacks.settings as settings_module
from app import build
from miniticker import POPULAR_SYMBOLS
from stacks.settings import Settings, SettingsError

REPO = Path(__file__).resolve().parents[1]
OFFLINE_CDK = {
    "CDK_DISABLE_VERSION_CHECK": "1",
    "CDK_DISABLE_CLI_TELEMETRY": "1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
}


def synth(**context: Any) -> tuple[cdk.Stack, Template]:
    app = cdk.App(context={f"crypto-live:{k.replace('_', '-')}": v for k, v in context.items()})
    stack = build(app)
    return stack, Template.from_stack(stack)


def secret_streams(template: Template) -> list[str]:
    (secret,) = template.find_resources("AWS::SecretsManager::Secret").values()
    streams: list[str] = json.loads(secret["Properties"]["SecretString"])["streams"]
    return streams


def test_defaults():
    stack, template = synth()
    assert stack.stack_name == "crypto-live-dev"
    assert secret_streams(template) == [f"{s.lower()}@miniTicker" for s in POPULAR_SYMBOLS]
    template.has_resource("AWS::SecretsManager::Secret", {
        "Properties": Match.object_like({"Name": "crypto-live-dev.binance_ws"}),
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
    })
    template.has_output("StreamConfigSecretName", Match.any_value())


@pytest.mark.parametrize(
    "streams",
    [["ethusdt@miniTicker", "!miniTicker@arr"], '["ethusdt@miniTicker", "!miniTicker@arr"]',
     "ethusdt@miniTicker, !miniTicker@arr"],
    ids=["cdk.json-list", "cli-json", "cli-comma-separated"],
)
def test_streams_from_context(streams: Any):
    _, template = synth(streams=streams)
    assert secret_streams(template) == ["ethusdt@miniTicker", "!miniTicker@arr"]


def test_environment_and_secret_name():
    stack, template = synth(env="prod", secret_name="team.binance_ws")
    assert stack.stack_name == "crypto-live-prod"
    template.has_resource_properties("AWS::SecretsManager::Secret", {"Name": "team.binance_ws"})


def test_two_environments_do_not_collide():
    names = set()
    for env in ("dev", "prod"):
        stack, template = synth(env=env)
        (secret,) = template.find_resources("AWS::SecretsManager::Secret").values()
        names.add((stack.stack_name, secret["Properties"]["Name"]))
    assert names == {("crypto-live-dev", "crypto-live-dev.binance_ws"),
                     ("crypto-live-prod", "crypto-live-prod.binance_ws")}


@pytest.mark.parametrize(
    ("context", "words"),
    [
        ({"env": "Prod"}, "crypto-live:env='Prod'"),
        ({"env": "x" * 17}, "crypto-live:env="),
        ({"env": "1dev"}, "starting with a letter"),
        ({"env": 5}, "crypto-live:env must be a string"),
        ({"streams": []}, "non-empty list"),
        ({"streams": "[]"}, "non-empty list"),
        ({"streams": {"a": 1}}, "non-empty list"),
        ({"streams": ["BTCUSDT@miniTicker"]}, "lower-case"),
        ({"streams": ["btcusdt"]}, "'btcusdt' is not '<symbol>@miniTicker'"),
        ({"streams": [7]}, "7 is not a string"),
        ({"streams": ["btcusdt@miniTicker", "btcusdt@miniTicker"]}, "more than once"),
        ({"secret_name": 3}, "crypto-live:secret-name must be a string"),
    ],
)
def test_bad_settings_name_the_key(context: dict[str, Any], words: str):
    with pytest.raises(SettingsError) as caught:
        synth(**context)
    assert words in str(caught.value)


def run_cdk_synth(out: Path, *context: str) -> subprocess.CompletedProcess[str]:
    """`make synth`, the README's command: the pinned CLI through cdk.json, offline, no Docker."""
    args = ["-o", str(out)]
    for item in context:
        args += ["-c", shlex.quote(item)]
    return subprocess.run(["make", "--no-print-directory", "synth", f"ARGS={' '.join(args)}"],
                          cwd=REPO, capture_output=True, text=True, check=False,
                          env={**os.environ, **OFFLINE_CDK})


def test_the_pinned_cli_synthesizes_through_cdk_json(tmp_path: Path):
    result = run_cdk_synth(
        tmp_path, "crypto-live:env=ci", 'crypto-live:streams=["solusdt@miniTicker"]'
    )
    assert result.returncode == 0, result.stderr
    template = Template.from_json(
        json.loads((tmp_path / "crypto-live-ci.template.json").read_text())
    )
    assert secret_streams(template) == ["solusdt@miniTicker"]


def test_the_cli_reports_a_bad_setting(tmp_path: Path):
    result = run_cdk_synth(tmp_path, 'crypto-live:streams=["BTC"]')
    assert result.returncode != 0
    assert "crypto-live:streams: stream name 'BTC'" in result.stderr


def test_the_readme_documents_every_context_key_with_its_default():
    rows = dict(re.findall(r"^\| `(crypto-live:[a-z-]+)` \| ([^|]+) \|", (
        REPO / "README.md").read_text(), flags=re.MULTILINE))
    keys = {value for name, value in vars(settings_module).items() if name.endswith("_KEY")}
    assert set(rows) == keys
    special = {"crypto-live:env": "`dev`", "crypto-live:streams": None,
               "crypto-live:secret-name": "`crypto-live-<env>.binance_ws`",
               "crypto-live:database-name": "`crypto_live_<env>`",
               "crypto-live:alarm-email": "none"}
    defaults = {f.name: f.default for f in fields(Settings)}
    for key, documented in rows.items():
        if key in special:
            assert special[key] is None or documented.strip() == special[key], key
            continue
        default = defaults[key.removeprefix("crypto-live:").replace("-", "_")]
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        assert documented.strip() == f"`{shown}`", key
