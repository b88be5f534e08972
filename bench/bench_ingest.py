"""The ingester's frame path per core, and its memory through a long Kinesis outage.

    .venv/bin/python bench/bench_ingest.py [--events 300000] [--repeat 5] [--outage-seconds 600]

1. Throughput: generated Binance frames go through the service's own `SharedDeduplicator`, by
   a `ConnectionBatcher` as a connection reads them (parse, normalise, drop duplicates, count,
   serialise), and `Delivery` (lines packed into aggregated Kinesis records, PutRecords calls
   through `KinesisSink`, boto3) to a local endpoint, in another process, that accepts every
   record.
   Events per CPU second of this process (all its threads) = events/s per core; best of
   ``--repeat`` runs. Reference, same frames, same run, interleaved: the bare loop
   ``json.loads`` -> ``normalize_message`` -> ``to_json_line``. Each run's own ratio is printed
   as well, and the bare loop's spread: on a busy host the service path (two threads, a wider
   working set) slows more than the bare loop, so the spread tells how far to trust a run.
   Targets: the service path >= 0.7x the bare loop, and >= 50,000 events/s per core.
   Then the sender's own share: CPU per event of packing lines into records and putting them
   with boto3's ``put_records`` (serialising, signing, sending, reading the answer).
2. Outage: Kinesis unreachable (a closed port) while frames arrive at 2,000 events/s for
   ``--outage-seconds``; resident memory is sampled every second. Target: flat once the memory
   buffer is full (the spool on disk takes the rest).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3
from aws_lambda_powertools import Logger, Metrics

from ingest.batching import SharedDeduplicator
from ingest.delivery import MEMORY_EVENTS, Delivery
from ingest.kinesis_sink import CLIENT_CONFIG, KinesisSink
from ingest.metric_names import MetricName
from ingest.observability import IngestMetrics
from ingest.packing import PartitionKeys, call_ends, pack, record_size
from ingest.spool import Spool
from market_sim import POPULAR, MarketDataGenerator, Shape, messages
from miniticker import normalize_message, to_json_line

ACCEPT_ALL = textwrap.dedent('''
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class PutRecords(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms ACK stalls

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            count = len(json.loads(body)["Records"])
            answer = json.dumps({"FailedRecordCount": 0, "Records": [
                {"SequenceNumber": "1", "ShardId": "shardId-000000000000"}] * count}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), PutRecords)
    print(server.server_address[1], flush=True)
    server.serve_forever()
''')


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def frames_of(shape: Shape, events: int) -> tuple[list[bytes], int]:
    generator = MarketDataGenerator(POPULAR, seed=1)
    ticks = -(-events // len(POPULAR))
    count = ticks if shape in (Shape.ALL_MARKET, Shape.ALL_MARKET_COMBINED) else events
    frames = [json.dumps(m, separators=(",", ":")).encode()
              for m in messages(generator, shape, count)]
    return frames, (ticks * len(POPULAR) if count == ticks else events)


def kinesis_client(endpoint: str) -> Any:
    return boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench",
                        config=CLIENT_CONFIG)


def kinesis_sink(endpoint: str) -> KinesisSink:
    return KinesisSink("bench", kinesis_client(endpoint))


def quiet_metrics() -> IngestMetrics:
    logger = Logger(service="bench", level="ERROR")
    return IngestMetrics(logger, Metrics(namespace="Bench", service="bench"))


def bare_loop(frames: list[bytes]) -> float:
    start = time.process_time()
    for frame in frames:
        for record in normalize_message(json.loads(frame), received_at=0).records:
            to_json_line(record)
    return time.process_time() - start


def service_path(frames: list[bytes], endpoint: str, spool_dir: Path) -> tuple[float, float]:
    metrics = quiet_metrics()
    # Memory for every event: this measures the steady path, not the disk spill that a tight
    # loop outrunning one sender would otherwise trigger (the outage part measures that).
    delivery = Delivery(kinesis_sink(endpoint), Spool(spool_dir),
                        metrics, memory_events=len(frames) * 400).start()
    batcher = SharedDeduplicator(delivery, metrics).batcher()
    cpu, wall = time.process_time(), time.perf_counter()
    for frame in frames:
        batcher(frame, int(time.time() * 1000))
    batcher.flush()  # as a connection does when no frame is waiting
    left = delivery.stop(timeout=600)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    put = metrics.totals[MetricName.EVENTS_PUT]
    if left or put != metrics.totals[MetricName.EVENTS_RECEIVED]:
        raise SystemExit(f"benchmark run lost events: put {put}, left {left}")
    return cpu, wall


def sender_cost(frames: list[bytes], endpoint: str, repeat: int) -> None:
    """CPU per event of the sender's own work on these frames' events, taken at once as the
    sender takes memory: lines packed into records, records into calls, each call put with
    `KinesisSink` (boto3's ``put_records``: serialise, sign, send, read the answer)."""
    events = [r for frame in frames
              for r in normalize_message(json.loads(frame), received_at=0).records]
    received_at = [r.received_at for r in events]
    lines = [to_json_line(r) for r in events]
    sink = kinesis_sink(endpoint)
    keys = PartitionKeys()
    # The connection and boto3's lazy set-up, outside the measurement.
    sink.put([record.entry for record in pack(received_at[:100], lines[:100], keys)])
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        records = pack(received_at, lines, keys)
        first = 0
        for end in call_ends(list(map(record_size, records))):
            outcome = sink.put([record.entry for record in records[first:end]])
            if outcome.failed:
                raise SystemExit(f"the accept-all endpoint refused records: {outcome.reason}")
            first = end
        best = min(best, time.process_time() - start)
    print(f"sender (pack + boto3 put_records): {best / len(events) * 1e6:.2f} us/event, "
          f"{best / len(records) * 1e6:.0f} us/record, "
          f"{len(events) / len(records):.1f} events/record, {len(events):,} events")


def throughput(events: int, repeat: int) -> None:
    endpoint_process = subprocess.Popen([sys.executable, "-c", ACCEPT_ALL],
                                        stdout=subprocess.PIPE, text=True)
    try:
        assert endpoint_process.stdout is not None
        endpoint = f"http://127.0.0.1:{endpoint_process.stdout.readline().strip()}"
        print(f"best of {repeat} runs each (CPU seconds of every thread of this process); "
              "'runs' is each run's ratio against the bare loop run just before it, and "
              "'noise' the bare loop's slowest run over its fastest")
        print(f"{'frames':<22}{'events':>9}{'bare ev/s':>12}{'service ev/s':>14}"
              f"{'ratio':>7}{'wall ev/s':>11}  {'runs':<11}{'noise':>6}")
        for shape in (Shape.COMBINED, Shape.ALL_MARKET_COMBINED):
            frames, count = frames_of(shape, events)
            bare_cpu: list[float] = []
            service_cpu: list[float] = []
            walls: list[float] = []
            for _ in range(repeat):  # interleaved: a slow spell of the machine hits both
                bare_cpu.append(bare_loop(frames))
                with tempfile.TemporaryDirectory() as spool:
                    cpu, seconds = service_path(frames, endpoint, Path(spool))
                service_cpu.append(cpu)
                walls.append(seconds)
            bare, service = count / min(bare_cpu), count / min(service_cpu)
            runs = [b / s for b, s in zip(bare_cpu, service_cpu)]
            print(f"{shape.value:<22}{count:>9,}{bare:>12,.0f}{service:>14,.0f}"
                  f"{service / bare:>7.2f}{count / min(walls):>11,.0f}  "
                  f"{min(runs):.2f}..{max(runs):.2f}{max(bare_cpu) / min(bare_cpu):>8.2f}")
        print("targets: ratio >= 0.70, service >= 50,000 events/s per core")
        sender_cost(frames_of(Shape.COMBINED, 50_000)[0], endpoint, repeat)
    finally:
        endpoint_process.terminate()


def outage(seconds: float, rate: int) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"  # closed once the probe closes
    frames, _ = frames_of(Shape.COMBINED, rate * 10)
    with tempfile.TemporaryDirectory() as spool_dir:
        metrics = quiet_metrics()
        spool = Spool(Path(spool_dir))
        delivery = Delivery(kinesis_sink(dead), spool, metrics).start()
        batcher = SharedDeduplicator(delivery, metrics).batcher()
        start = time.monotonic()
        samples: list[tuple[float, float]] = []
        sent = 0
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate)
            while sent < due:
                # A cycle of rate * 10 frames: far longer than the duplicate filter's memory
                # (64 events a symbol), so every replayed event counts as new.
                batcher(frames[sent % len(frames)], int(time.time() * 1000))
                sent += 1
            batcher.flush()  # a connection's reads would time out here
            if not samples or elapsed - samples[-1][0] >= 1.0:
                samples.append((elapsed, rss_mb()))
            time.sleep(0.005)
        spool_mb = sum(p.stat().st_size for p in Path(spool_dir).glob("*.spool")) / 2**20
        delivery.stop(timeout=0.1)
    # The memory buffer is full by now (with a margin for the sender's first attempts).
    full = next((t for t, _ in samples if t >= MEMORY_EVENTS / rate + 10), samples[-1][0])
    after = [m for t, m in samples if t >= full]
    print(f"\noutage: {seconds:.0f} s at {rate:,} events/s, Kinesis unreachable")
    for label, at in (("start", 0), ("buffer full", full), ("middle", seconds / 2),
                      ("end", seconds)):
        t, mb = min(samples, key=lambda s: abs(s[0] - at))
        print(f"  rss at {label:<12}{t:>7.0f} s {mb:>8.1f} MB")
    print(f"  peak rss {max(m for _, m in samples):.1f} MB; after the buffer filled: "
          f"{min(after):.1f}..{max(after):.1f} MB (growth {max(after) - min(after):.1f} MB)")
    print(f"  events in: {sent:,}; spilled to disk: "
          f"{metrics.totals[MetricName.EVENTS_SPILLED]:,.0f}"
          f" ({spool_mb:.0f} MB of spool)")
    print("target: rss flat after the buffer filled (growth well under the spool's size)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--outage-seconds", type=float, default=600.0)
    parser.add_argument("--outage-rate", type=int, default=2000)
    args = parser.parse_args()
    throughput(args.events, args.repeat)
    if args.outage_seconds > 0:
        outage(args.outage_seconds, args.outage_rate)


if __name__ == "__main__":
    main()
