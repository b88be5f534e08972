"""Delivery to Kinesis (moto server): batching, partial failures, outage, spill, stop, replay."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from ingest.delivery import Delivery
from ingest.kinesis_sink import (
    CLIENT_CONFIG,
    KinesisSink,
    MissingCredentials,
    batches,
    failed_records,
    put_records_body,
)
from ingest.spool import Spool
from market_sim import MarketDataGenerator
from miniticker import MiniTicker, normalize, to_json_line
from tests.kinesis import create_stream, read_all
from tests.kinesis_proxy import KinesisProxy, decoded
from tests.loopback import free_port
from tests.tls import self_signed
from tests.waiting import wait_for


class Counts:
    def __init__(self) -> None:
        self.counter: Counter[str] = Counter()
        self.reasons: list[str] = []

    def put(self, count: int) -> None:
        self.counter["put"] += count

    def put_failed(self, count: int, reason: str) -> None:
        self.counter["failed"] += count
        self.reasons.append(reason)

    def spilled(self, count: int) -> None:
        self.counter["spilled"] += count


def generated(count: int, seed: int = 1) -> list[MiniTicker]:
    return [normalize(p, received_at=p["E"] + 40)
            for p in MarketDataGenerator(seed=seed).payloads(count)]


@pytest.fixture
def kinesis(aws: str) -> Any:
    return boto3.client("kinesis", config=CLIENT_CONFIG)


@pytest.fixture
def proxy(aws: str) -> Iterator[KinesisProxy]:
    with KinesisProxy(aws) as running:
        yield running


def sink_through(proxy: KinesisProxy, stream: str) -> KinesisSink:
    return KinesisSink(stream, boto3.client("kinesis", endpoint_url=proxy.url,
                                            config=CLIENT_CONFIG))


def deliver(kinesis: Any, proxy: KinesisProxy, tmp_path: Path,
            **options: Any) -> tuple[Delivery, Counts, str]:
    stream = create_stream(kinesis)
    counts = Counts()
    delivery = Delivery(sink_through(proxy, stream), Spool(tmp_path / "spool"), counts,
                        linger=0.01, retry_cap=0.05, **options)
    return delivery.start(), counts, stream


def assert_stream_holds_exactly(kinesis: Any, stream: str, records: list[MiniTicker]) -> None:
    stored = read_all(kinesis, stream)
    assert stored == [(r.symbol, to_json_line(r)) for r in records]


def test_batches_respect_the_request_limits():
    small = [("BTCUSDT", b"x" * 100)] * 1200
    assert [len(b) for b in batches(small)] == [500, 500, 200]
    big = [("BTCUSDT", b"x" * (900 * 1024))] * 12
    sizes = [sum(len(k) + len(d) for k, d in b) for b in batches(big)]
    assert all(size <= 5 * 1024 * 1024 for size in sizes)
    assert sum(len(b) for b in batches(big)) == 12
    with pytest.raises(ValueError, match="1 MiB"):
        list(batches([("K", b"x" * (1024 * 1024))]))
    assert list(batches([])) == []  # no empty request (Kinesis refuses one, and it would retry)


def test_every_record_arrives_once_in_order(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path
):
    delivery, counts, stream = deliver(kinesis, proxy, tmp_path)
    records = generated(1234)
    for start in range(0, len(records), 7):
        delivery.submit(records[start:start + 7])
    assert delivery.stop(timeout=30) == 0
    assert_stream_holds_exactly(kinesis, stream, records)
    assert counts.counter == {"put": 1234}


def test_only_the_failed_records_are_retried(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path
):
    delivery, counts, stream = deliver(kinesis, proxy, tmp_path)
    proxy.fail_every, proxy.failing_calls = 3, 5
    records = generated(1500)
    delivery.submit(records)
    assert delivery.stop(timeout=30) == 0
    stored = read_all(kinesis, stream)
    assert sorted(stored) == sorted((r.symbol, to_json_line(r)) for r in records)
    assert len(stored) == len(set(stored)) == 1500  # nothing twice
    assert counts.counter["put"] == 1500
    # Each throttling call is followed by one that resends exactly its throttled records.
    calls = [decoded(records) for records in proxy.records_seen]
    assert len(calls[0]) == 500
    for call, retry in zip(calls[:4], calls[1:5]):
        assert retry == call[::3]
    assert counts.counter["failed"] == sum(len(call[::3]) for call in calls[:5])
    assert all(r.startswith("ProvisionedThroughputExceededException x") for r in counts.reasons)


def test_an_outage_spills_to_disk_and_replays_in_order(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path
):
    delivery, counts, stream = deliver(kinesis, proxy, tmp_path, memory_records=300)
    proxy.down = True
    records = generated(3000)
    for start in range(0, len(records), 50):
        delivery.submit(records[start:start + 50])
    assert counts.counter["spilled"] >= 3000 - 300 - 500  # memory and one batch in flight
    assert list((tmp_path / "spool").glob("*.spool"))
    proxy.down = False
    assert delivery.stop(timeout=30) == 0
    assert_stream_holds_exactly(kinesis, stream, records)  # in submit order, once each
    assert not list((tmp_path / "spool").glob("*.spool"))


def test_the_sender_outlasts_an_outage_of_more_than_1024_attempts(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path
):
    # The backoff's 2.0**attempt overflowed at attempt 1024 and killed the sender thread: every
    # later record would have waited in memory or on disk for good.
    stream = create_stream(kinesis)
    counts = Counts()
    delivery = Delivery(sink_through(proxy, stream), Spool(tmp_path / "spool"), counts,
                        linger=0.01, retry_cap=1e-4).start()
    proxy.down = True
    records = generated(10)
    delivery.submit(records)
    wait_for(lambda: proxy.calls > 1100, timeout=60)
    proxy.down = False
    wait_for(lambda: counts.counter["put"] == 10)
    assert delivery.stop(timeout=5) == 0
    assert_stream_holds_exactly(kinesis, stream, records)
    assert counts.counter["failed"] >= 1100 * 10


def test_submit_never_waits_for_kinesis(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path
):
    delivery, counts, stream = deliver(kinesis, proxy, tmp_path, memory_records=1000)
    proxy.blocked.clear()  # the next PutRecords hangs until released
    records = generated(5000)
    def submit_one_by_one() -> None:
        for record in records:
            delivery.submit([record])

    submitter = threading.Thread(target=submit_one_by_one)
    submitter.start()
    submitter.join(20)
    assert not submitter.is_alive(), "submit blocked behind a hung PutRecords"
    assert counts.counter["spilled"] > 0
    proxy.blocked.set()
    assert delivery.stop(timeout=30) == 0
    assert_stream_holds_exactly(kinesis, stream, records)


def test_a_stop_during_an_outage_leaves_everything_on_disk(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path
):
    delivery, _counts, stream = deliver(kinesis, proxy, tmp_path, memory_records=200)
    proxy.down = True
    records = generated(1000)
    delivery.submit(records[:150])
    delivery.submit(records[150:])
    assert delivery.stop(timeout=0.5) == 1000
    assert read_all(kinesis, stream) == []

    # The next run replays the spool first, then its own records.
    counts2 = Counts()
    again = Delivery(KinesisSink(stream, kinesis), Spool(tmp_path / "spool"), counts2,
                     linger=0.01).start()
    later = generated(100, seed=2)
    again.submit(later)
    assert again.stop(timeout=30) == 0
    stored = read_all(kinesis, stream)
    assert sorted(stored) == sorted((r.symbol, to_json_line(r)) for r in records + later)
    assert len(stored) == 1100
    assert stored[-100:] == [(r.symbol, to_json_line(r)) for r in later]


def test_records_submitted_after_the_stop_are_kept_on_disk(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    delivery, counts, stream = deliver(kinesis, proxy, tmp_path)
    assert delivery.stop(timeout=5) == 0
    late = generated(7)
    delivery.submit(late)  # a reader thread that outlived the stop
    assert counts.counter["spilled"] == 7
    assert "7 records came after the stop" in caplog.text
    _, entries = Spool(tmp_path / "spool").oldest() or (None, [])
    assert entries == [(r.symbol, to_json_line(r)) for r in late]
    assert read_all(kinesis, stream) == []


def test_a_torn_spool_line_is_reported_not_sent(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    spool = Spool(tmp_path)
    spool.append([("BTCUSDT", b'{"a":1}\n')])
    spool.close()
    (segment,) = tmp_path.glob("*.spool")
    with segment.open("ab") as torn:
        torn.write(b'ETHUSDT\t{"b":')
    reopened = Spool(tmp_path)
    assert len(reopened) == 1
    _, entries = reopened.oldest() or (None, [])
    assert entries == [("BTCUSDT", b'{"a":1}\n')]
    assert "torn last record" in caplog.text


def test_the_sink_reports_why_a_request_failed(kinesis: Any, proxy: KinesisProxy):
    batch = [(r.symbol, to_json_line(r)) for r in generated(3)]
    missing = sink_through(proxy, "no-such-stream")
    failed, reason = missing.put(batch)
    assert failed == batch
    assert reason is not None
    assert reason.startswith("ResourceNotFoundException: ")

    sink = sink_through(proxy, create_stream(kinesis))
    proxy.down = True
    assert sink.put(batch) == (batch, "InternalFailure: injected outage")
    proxy.down, proxy.garbage = False, True
    failed, reason = sink.put(batch)
    assert failed == batch
    assert reason is not None
    assert reason.startswith("unreadable PutRecords response")
    unreachable = KinesisSink("ticks", boto3.client(
        "kinesis", endpoint_url=f"http://127.0.0.1:{free_port()}", config=CLIENT_CONFIG))
    failed, reason = unreachable.put(batch)
    assert failed == batch
    assert reason is not None
    assert reason.startswith("NewConnectionError")
    assert "Connection refused" in reason


def test_the_sink_verifies_tls_against_the_configured_ca_bundle(
    kinesis: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    bundle, server_context = self_signed(tmp_path)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "*")  # straight to the endpoint, whatever the machine's proxy
    batch = [(r.symbol, to_json_line(r)) for r in generated(3)]
    with KinesisProxy(kinesis.meta.endpoint_url, tls=server_context) as tls:
        assert tls.url.startswith("https://")
        stream = create_stream(kinesis)
        monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
        assert sink_through(tls, stream).put(batch) == ([], None)
        assert read_all(kinesis, stream) == batch
        # Without the bundle, a certificate nobody vouches for is refused, not trusted.
        monkeypatch.delenv("AWS_CA_BUNDLE")
        failed, reason = sink_through(tls, stream).put(batch)
        assert failed == batch
        assert reason is not None
        assert "CERTIFICATE_VERIFY_FAILED" in reason
        assert len(read_all(kinesis, stream)) == 3


def test_the_sink_goes_through_the_proxy_the_environment_names(
    kinesis: Any, proxy: KinesisProxy, monkeypatch: pytest.MonkeyPatch
):
    stream = create_stream(kinesis)
    for name in ("HTTP_PROXY", "http_proxy"):  # urllib reads both; either may be set already
        monkeypatch.setenv(name, proxy.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "")
    # A name no resolver knows: only the proxy can reach it.
    client = boto3.client("kinesis", endpoint_url="http://kinesis.proxied.invalid",
                          config=CLIENT_CONFIG)
    batch = [(r.symbol, to_json_line(r)) for r in generated(2)]
    assert KinesisSink(stream, client).put(batch) == ([], None)
    assert proxy.targets == ["http://kinesis.proxied.invalid/"]
    assert read_all(kinesis, stream) == batch

    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "kinesis.proxied.invalid")
    failed, reason = KinesisSink(stream, client).put(batch)
    assert failed == batch
    assert reason is not None
    assert reason.startswith("NameResolutionError")
    assert len(proxy.targets) == 1


def test_the_sink_needs_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = boto3.client("kinesis", region_name="us-east-1", config=CLIENT_CONFIG)
    with pytest.raises(MissingCredentials, match="no AWS credentials"):
        KinesisSink("ticks", client)


def test_the_request_body_is_kinesis_json():
    body = put_records_body("ticks", [("BTCUSDT", b'{"a":"\\u00e9"}\n'), ("ÉTHUSDT", b"x")])
    assert json.loads(body) == {"StreamName": "ticks", "Records": [
        {"Data": base64.b64encode(b'{"a":"\\u00e9"}\n').decode(), "PartitionKey": "BTCUSDT"},
        {"Data": "eA==", "PartitionKey": "ÉTHUSDT"}]}
    assert json.loads(put_records_body("ticks", [])) == {"StreamName": "ticks", "Records": []}


@pytest.mark.parametrize("spacing", ["", " "])
def test_an_answer_without_failures_is_read_without_decoding_the_results(spacing: str):
    batch = [("BTCUSDT", b"a\n"), ("ETHUSDT", b"b\n")]
    results = [{"SequenceNumber": "1", "ShardId": "shardId-000000000000"}] * 2
    answer = json.dumps({"FailedRecordCount": 0, "Records": results},
                        separators=("," + spacing, ":" + spacing)).encode()
    assert failed_records(batch, answer) == ([], None)
    assert failed_records(batch, answer.replace(b"[", b"[garbage", 1)) == ([], None)


def test_a_partial_failure_is_not_mistaken_for_success():
    batch = [("BTCUSDT", b"a\n"), ("ETHUSDT", b"b\n"), ("BNBUSDT", b"c\n")]
    throttled = {"ErrorCode": "ProvisionedThroughputExceededException",
                 # an error text quoting the fast path's pattern must not look like the member
                 "ErrorMessage": 'Rate exceeded ("FailedRecordCount":0,)'}
    ok = {"SequenceNumber": "1", "ShardId": "shardId-000000000000"}
    for count in (1, 10):
        answer = json.dumps({"Records": [throttled, ok, throttled],
                             "FailedRecordCount": count}).encode()
        if count == 10:  # a count that starts with 1 and goes on: still a failure
            assert failed_records(batch, answer)[0] == [batch[0], batch[2]]
            continue
        assert failed_records(batch, answer) == (
            [batch[0], batch[2]], "ProvisionedThroughputExceededException x2")
    garbled = json.dumps({"FailedRecordCount": 1, "Records": [ok]}).encode()
    failed, reason = failed_records(batch, garbled)
    assert failed == batch
    assert reason == "unreadable PutRecords response: 1 results for 3 records"
