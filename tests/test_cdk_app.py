"""The CDK app: settings from context, validated, and the resources they produce."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

import stacks.settings as settings_module
from app import build
from miniticker import ALL_MARKET_STREAM, POPULAR_SYMBOLS
from miniticker.kinesis_record import (
    EVENT_LINE_BYTES,
    MAX_RECORD_BYTES,
    SHARD_BYTES_PER_SECOND,
    WHOLE_MARKET_EVENTS_PER_SECOND,
)
from stacks.capacity import (
    LAMBDA_PAYLOAD_BYTES,
    SHARD_SHARE,
    ShardCapacity,
    StreamLoad,
    batch_payload_bytes,
    estimate_load,
    largest_batch_size,
    shards_needed,
)
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


CDK_RUNTIME = ("jsii", "aws_cdk", "constructs")
AWS_SDK = ("boto3", "botocore")


@pytest.mark.parametrize(("module", "absent"), [
    ("stacks.settings", CDK_RUNTIME + AWS_SDK),  # its capacity checks import no ingester runtime
    ("local.aws", CDK_RUNTIME),
])
def test_the_settings_load_neither_jsii_nor_the_cdk(module: str, absent: tuple[str, ...]):
    """The local mode names its stand-ins from the stack's settings: importing them must not
    start jsii's Node process or load the CDK (nor, for the settings, the AWS SDK)."""
    probe = (f"import json, sys, {module}; "
             f"print(json.dumps(sorted(set({list(absent)!r}) & set(sys.modules))))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                            text=True, check=True)
    assert json.loads(loaded.stdout) == [], f"{module} loads {loaded.stdout.strip()}"


def single_symbol_streams(count: int) -> list[str]:
    return [f"s{index}usdt@miniTicker" for index in range(count)]


def shard_count(template: Template) -> int:
    (stream,) = template.find_resources("AWS::Kinesis::Stream").values()
    return int(stream["Properties"]["ShardCount"])


@pytest.mark.parametrize("streams", [None, [ALL_MARKET_STREAM],
                                     ["btcusdt@miniTicker", ALL_MARKET_STREAM]],
                         ids=["ten-symbols", "whole-market", "whole-market-and-a-symbol"])
def test_one_shard_carries_ten_symbols_and_the_whole_market(streams: list[str] | None):
    _, template = synth(**({"streams": streams} if streams else {}))
    assert shard_count(template) == 1


def test_a_stream_list_one_shard_cannot_carry_is_refused_with_the_figures():
    with pytest.raises(SettingsError) as caught:
        synth(streams=single_symbol_streams(2_500))
    capacity = ShardCapacity.of(1)
    needed = 2_500 * EVENT_LINE_BYTES  # one event a second each
    assert str(caught.value) == (
        f"crypto-live:shard-count=1 carries {capacity.bytes:,} bytes/s of records (80 % of 1 "
        f"shard); crypto-live:streams (2,500 single-symbol streams) needs about {needed:,} "
        "bytes/s: set crypto-live:shard-count to at least 2, or crypto-live:stream-mode to "
        "on-demand")
    assert capacity.bytes == int(SHARD_BYTES_PER_SECOND * SHARD_SHARE) < needed


def settings_of(**context: Any) -> Settings:
    """The settings alone (what the refusal checks), without defining any resource."""
    return Settings.from_context(cdk.App(context={
        f"crypto-live:{k.replace('_', '-')}": v for k, v in context.items()}).node)


def test_enough_shards_or_on_demand_carry_the_same_list():
    streams = single_symbol_streams(2_500)
    assert settings_of(streams=streams, shard_count=4).shard_count == 4
    assert settings_of(streams=streams, shard_count="2").shard_count == 2
    assert settings_of(streams=streams, stream_mode="on-demand").stream_mode == "on-demand"
    with pytest.raises(SettingsError, match=r"crypto-live:shard-count=3 carries .* of 3 shards\)"):
        settings_of(streams=single_symbol_streams(8_000), shard_count=3)


def test_the_list_with_enough_shards_synthesizes():
    _, template = synth(streams=single_symbol_streams(2_500), shard_count=4)
    assert shard_count(template) == 4
    assert len(secret_streams(template)) == 2_500


def test_a_stream_list_the_secret_cannot_hold_is_refused():
    with pytest.raises(SettingsError, match=r"crypto-live:streams: 3,000 streams make a secret "
                       r"of [\d,]+ bytes, above Secrets Manager's 65,536"):
        settings_of(streams=single_symbol_streams(3_000), stream_mode="on-demand")


def test_the_records_a_second_are_checked_too():
    """A shard's record limit binds when records are small: the estimate never counts fewer
    records than the ingester's sends a second, nor more than the events."""
    load = estimate_load(single_symbol_streams(10))
    assert (load.events, load.bytes, load.records) == (10, 10 * EVENT_LINE_BYTES, 10)
    market = estimate_load([ALL_MARKET_STREAM, "btcusdt@miniTicker"])
    assert market.events == WHOLE_MARKET_EVENTS_PER_SECOND  # the symbol is in the market
    assert market.records == -(-market.bytes // MAX_RECORD_BYTES)
    assert shards_needed(market) == 1
    crowded = StreamLoad("records", 900, 900 * EVENT_LINE_BYTES, 900)
    assert shards_needed(crowded) == 2  # 900 records/s > 80 % of 1,000


@pytest.mark.parametrize("batch_size", [largest_batch_size() + 1, 10_000])
def test_a_batch_size_beyond_lambdas_payload_is_refused(batch_size: int):
    with pytest.raises(SettingsError) as caught:
        settings_of(consumer_batch_size=batch_size)
    message = str(caught.value)
    assert message.startswith(f"crypto-live:consumer-batch-size={batch_size}: ")
    assert f"{batch_payload_bytes(batch_size):,} bytes" in message
    assert f"at most {largest_batch_size()}" in message
    assert batch_payload_bytes(largest_batch_size()) <= LAMBDA_PAYLOAD_BYTES
    assert batch_payload_bytes(largest_batch_size() + 1) > LAMBDA_PAYLOAD_BYTES
    assert settings_of(consumer_batch_size=largest_batch_size()).consumer_batch_size == (
        largest_batch_size())


def test_the_default_batch_fits_lambdas_payload():
    assert batch_payload_bytes(Settings.consumer_batch_size) <= LAMBDA_PAYLOAD_BYTES


def test_a_load_over_the_record_limit_is_refused_naming_records(
        monkeypatch: pytest.MonkeyPatch):
    """The record limit binds only for loads of small records (none of the estimates of real
    stream lists today); its refusal names records, not bytes."""
    monkeypatch.setattr(settings_module, "estimate_load", lambda streams: StreamLoad(
        "small records", 900, 900 * EVENT_LINE_BYTES, 900))
    with pytest.raises(SettingsError) as caught:
        settings_of()
    assert str(caught.value) == (
        "crypto-live:shard-count=1 carries 800 records/s (80 % of 1 shard); crypto-live:streams "
        "(small records) needs about 900 records/s: set crypto-live:shard-count to at least 2, "
        "or crypto-live:stream-mode to on-demand")
