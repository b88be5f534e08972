"""The whole market through the real ingester into one shard's limits, measured end to end.

    .venv/bin/python bench/bench_whole_market.py [--seconds 60] [--squeeze SECONDS]

The local Binance server (`market_sim.server.BinanceServer`) sends one ``!miniTicker@arr`` frame
a second with every symbol of `market_sim.WHOLE_MARKET` that traded, for ``--seconds`` of
market. The real ingester (``python -m ingest``, a child process, configured only through its
environment) reads it and puts to a local Kinesis endpoint that enforces one shard's write
limits (``python -m local.kinesis_shard``, a process of its own; entries beyond the shard's
budget fail with ``ProvisionedThroughputExceededException``, as Kinesis fails them). Once every
event sent is in the stream, the ingester gets SIGTERM (it flushes and exits), and the run
prints:

- events/s and records/s accepted, bytes a record (data and partition key, mean) and lines a
  record, throttled entries;
- lag, from a frame's arrival in the ingester (each line's ``received_at``) to the endpoint's
  acceptance of its record: p50/p99/max over every line;
- the ingester's CPU per 1,000 events (user and system time of all its threads, from
  ``/proc/<pid>/stat``, from its first connection until every event was accepted) and its peak
  resident memory (``VmHWM``, read just before the stop); the same run's reference is the bare
  parse + normalise + serialise loop (``bench/bench_ingest.py``'s) over the frames sent, in
  this process, printed as a ratio. At one frame a second the ingester's fixed costs (its
  threads' timers, the heartbeat) weigh on that figure, so the run also samples its CPU for a
  few seconds with no frames, and prints what is left per 1,000 events once that is taken out;
- events sent against lines accepted, compared by ``(symbol, event_time)``: every event once,
  nothing else. Anything lost or doubled fails the run (exit status 1).

Targets: lag p99 < 5 s; nothing lost or doubled.

``--squeeze SECONDS`` adds a throttled stretch after the first ``--seconds``: the endpoint's
byte budget is cut (``POST /limits``) to ``--squeeze-fraction`` of the byte rate the market
needed so far, for that many seconds of market, then restored for ``--recover`` seconds of
market (default: as long as the squeeze). Every five seconds it prints the ingester's
heartbeat backlog, its resident memory and the entries throttled so far: the backlog grows
while squeezed (memory stays bounded; the disk spool takes what the memory buffer cannot) and
drains after. Lag is then reported for the lines accepted before the cut (the target's) and
for those received from the cut on.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_ingest import bare_loop
from ingest.environment import variables
from ingest.metric_names import MetricName
from ingest.status import read_status
from market_sim import WHOLE_MARKET, MarketDataGenerator, Payload
from market_sim.server import BinanceServer
from miniticker import ALL_MARKET_STREAM
from miniticker.kinesis_record import MAX_RECORD_BYTES

REPO = Path(__file__).resolve().parents[1]
STREAM = "bench-whole-market"
LAG_P99_TARGET_MS = 5_000
#: After the market's last frame, how long every event may take to be accepted (the squeeze's
#: backlog adds its own length on top).
SETTLE_SECONDS = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
IDLE_SECONDS = 5.0  # the idle sample after the market (the ingester reconnects after 10 s)


class CountedTicks:
    """The generator's ticks, ``count`` of them, then the end of the market (the server's
    ``exhausted``); keeps every tick sent for the bare-loop reference."""

    def __init__(self, generator: MarketDataGenerator, count: int) -> None:
        self._generator = generator
        self._count = count
        self.ticks: list[list[Payload]] = []
        self._lock = threading.Lock()

    def next_tick(self) -> list[Payload]:
        with self._lock:
            if len(self.ticks) >= self._count:
                raise StopIteration
            tick = self._generator.next_tick()
            self.ticks.append(tick)
            return tick

    @property
    def taken(self) -> int:
        with self._lock:
            return len(self.ticks)


class Endpoint:
    """``python -m local.kinesis_shard`` in a process of its own, and its HTTP figures."""

    def __init__(self, stream: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local.kinesis_shard", "--stream", stream],
            cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise SystemExit(f"the Kinesis endpoint did not start (said {self.url!r})")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as answer:
            return json.load(answer)

    def set_limits(self, **limits: int) -> Any:
        request = urllib.request.Request(self.url + "/limits", data=json.dumps(limits).encode())
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)

    def stop(self) -> float:
        """Stop it; returns its CPU seconds."""
        cpu = cpu_seconds(self.process.pid)
        self.process.terminate()
        self.process.wait(10)
        return cpu


def cpu_seconds(pid: int) -> float:
    """User plus system time of every thread of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15)


def status_kib(pid: int, name: str) -> int:
    """A ``/proc/<pid>/status`` figure in KiB (``VmRSS``, ``VmHWM``)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise KeyError(name)


def now_ms() -> int:
    return int(time.time() * 1000)


class Run:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.log_path = workdir / "ingest.log"
        self.health_file = workdir / "heartbeat.json"
        total = args.seconds + args.squeeze + (args.recover if args.squeeze else 0)
        self.source = CountedTicks(
            MarketDataGenerator(WHOLE_MARKET, seed=args.seed, start_ms=now_ms()), total)
        self.endpoint = Endpoint(STREAM)
        self.server = BinanceServer(self.source, tick_seconds=1.0, wait_for_client=True).start()
        self.ingester = self._start_ingester()
        self.started = time.monotonic()

    def _start_ingester(self) -> subprocess.Popen[bytes]:
        environment = {name: value for name, value in os.environ.items()
                       if not name.startswith("AWS_")}  # no profile or real endpoint leaks in
        environment.update({
            "AWS_ENDPOINT_URL": self.endpoint.url,
            "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
            "NO_PROXY": "127.0.0.1,localhost",
            **variables(kinesis_stream_name=STREAM, ws_url=self.server.url,
                        streams=(ALL_MARKET_STREAM,), spool_dir=self.workdir / "spool",
                        health_file=self.health_file, metrics_interval_seconds=10),
        })
        with self.log_path.open("ab") as log:
            return subprocess.Popen([sys.executable, "-m", "ingest"], cwd=REPO,
                                    env=environment, stdout=log, stderr=subprocess.STDOUT)

    def fail(self, message: str) -> SystemExit:
        tail = self.log_path.read_text(errors="replace").splitlines()[-20:]
        return SystemExit(f"FAILED: {message}\n--- the ingester's log, last lines:\n"
                          + "\n".join(tail))

    def wait_until(self, done: Callable[[], bool], seconds: float, what: str,
                   every: Callable[[], None] | None = None, interval: float = 5.0, *,
                   required: bool = True) -> None:
        """Wait for ``done``; past ``seconds`` fail the run, or (not ``required``) say so and
        go on, so that the report counts exactly what is missing."""
        deadline = time.monotonic() + seconds
        next_report = time.monotonic() + interval
        while not done():
            if self.ingester.poll() is not None:
                raise self.fail(f"the ingester exited ({self.ingester.returncode}) while "
                                f"waiting for {what}")
            if time.monotonic() > deadline:
                if not required:
                    print(f"{what} did not happen within {seconds:.0f} s", flush=True)
                    return
                raise self.fail(f"{what} did not happen within {seconds:.0f} s")
            if every is not None and time.monotonic() >= next_report:
                every()
                next_report += interval
            time.sleep(0.5)  # each look at /stats costs the endpoint a sort of every lag

    def backlog(self) -> int | None:
        status = read_status(self.health_file)
        return status.backlog if status is not None else None

    def progress(self) -> None:
        stats = self.endpoint.get("/stats")
        print(f"{time.monotonic() - self.started:>6.0f} s  sent {len(self.server.sent):>9,}  "
              f"accepted {stats['lines']:>9,}  throttled {stats['throttled_entries']:>7,}  "
              f"backlog {self.backlog()!s:>7}  "
              f"RSS {status_kib(self.ingester.pid, 'VmRSS') / 1024:>6.1f} MiB", flush=True)

    def market(self) -> dict[str, Any]:
        args = self.args
        self.wait_until(lambda: self.server.connections_opened > 0, 60,
                        "the ingester's connection")
        self.started = time.monotonic()
        cpu_start = cpu_seconds(self.ingester.pid)
        figures: dict[str, Any] = {"market_start_ms": now_ms()}
        self.wait_until(lambda: self.source.taken > args.seconds or self.server.exhausted.is_set(),
                        args.seconds + 30, "the market's first part", self.progress, 10.0)
        if args.squeeze:
            self.squeeze(figures, cpu_start)
        self.wait_until(self.server.exhausted.is_set, args.squeeze + args.recover + 30,
                        "the market's end")
        sent = len(self.server.sent)
        self.wait_until(lambda: self.endpoint.get("/stats")["lines"] >= sent,
                        SETTLE_SECONDS + args.squeeze, "every event's acceptance",
                        self.progress, required=False)
        figures["market_end_ms"] = now_ms()
        figures["seconds"] = time.monotonic() - self.started  # the CPU figure's wall time
        figures["cpu"] = cpu_seconds(self.ingester.pid) - cpu_start
        figures["peak_rss_kib"] = status_kib(self.ingester.pid, "VmHWM")
        # The same process with no frames to read (shorter than its data watchdog): the cost
        # of its timers and threads alone, which a quiet market pays too.
        idle_start, wall_start = cpu_seconds(self.ingester.pid), time.monotonic()
        time.sleep(IDLE_SECONDS)
        figures["idle_cpu_per_second"] = ((cpu_seconds(self.ingester.pid) - idle_start)
                                          / (time.monotonic() - wall_start))
        figures["events"] = sent
        return figures

    def squeeze(self, figures: dict[str, Any], cpu_start: float) -> None:
        args = self.args
        # The first part's figures once every event it sent is in: its lag is the target's,
        # untouched by the squeeze that follows.
        sent = len(self.server.sent)
        self.wait_until(lambda: self.endpoint.get("/stats")["lines"] >= sent, SETTLE_SECONDS,
                        "the first part's acceptance")
        stats = self.endpoint.get("/stats")
        figures["first_part_lags"] = stats["lag_ms"]
        figures["first_part_cpu"] = cpu_seconds(self.ingester.pid) - cpu_start
        figures["first_part_events"] = len(self.server.sent)
        figures["first_part_rss_kib"] = status_kib(self.ingester.pid, "VmHWM")
        rate = stats["accepted_bytes"] / self.source.taken  # every tick so far is in
        squeezed = max(MAX_RECORD_BYTES, int(rate * args.squeeze_fraction))
        normal = stats["limits"]["bytes_per_second"]
        figures["squeeze_start_ms"] = now_ms()
        self.endpoint.set_limits(bytes_per_second=squeezed)
        print(f"squeeze: {squeezed:,} bytes/s for {args.squeeze} s of market "
              f"(the market needed {rate:,.0f} bytes/s so far); then "
              f"{args.recover} s of market unsqueezed", flush=True)
        peak_rss = 0

        def sample() -> None:
            nonlocal peak_rss
            peak_rss = max(peak_rss, status_kib(self.ingester.pid, "VmRSS"))
            self.progress()

        limit = args.seconds + args.squeeze
        self.wait_until(lambda: self.source.taken > limit or self.server.exhausted.is_set(),
                        args.squeeze + 30, "the squeeze's end", sample)
        self.endpoint.set_limits(bytes_per_second=normal)
        figures["squeeze_peak_rss_kib"] = peak_rss
        print("squeeze over: the shard's budget is whole again", flush=True)
        self.wait_until(self.server.exhausted.is_set, args.recover + 30, "the recovery's end",
                        sample)

    def lags(self, figures: dict[str, Any]) -> dict[str, Any]:
        """The endpoint's lag figures: every line's, or with a squeeze, the lines accepted
        before it (the target's) and those received from the cut on."""
        squeeze_start = figures.get("squeeze_start_ms")
        if squeeze_start is None:
            return {"first": self.endpoint.get("/stats")["lag_ms"]}
        return {"first": figures["first_part_lags"],
                "squeezed": self.endpoint.get(
                    f"/stats?received_from={squeeze_start}")["lag_ms"]}

    def stop_ingester(self) -> tuple[int, dict[str, float] | None]:
        """SIGTERM, as ECS stops a task; its exit status and its final totals (from its status
        file's last write)."""
        self.ingester.send_signal(signal.SIGTERM)
        exit_status = self.ingester.wait(60)
        status = read_status(self.health_file)
        return exit_status, status.totals if status is not None and status.stopped else None

    def close(self) -> float:
        if self.ingester.poll() is None:
            self.ingester.kill()
            self.ingester.wait(10)
        self.server.stop()
        return self.endpoint.stop()


def percentile_line(lag: dict[str, Any]) -> str:
    return (f"p50 {lag['p50']:,} ms, p99 {lag['p99']:,} ms, max {lag['max']:,} ms "
            f"over {lag['lines']:,} lines")


@dataclass
class Outcome:
    """What a run measured, gathered before its processes stop."""

    figures: dict[str, Any]  # the ingester's CPU and memory, the phases' times
    final: dict[str, Any]  # the endpoint's /stats at the end
    lags: dict[str, Any]  # the endpoint's lag figures by phase
    keys: list[list[Any]]  # every accepted line's [symbol, event_time]
    status: int  # the ingester's exit status
    totals: dict[str, float] | None  # the ingester's own final counts
    endpoint_cpu: float = 0.0


@dataclass
class Exactness:
    """Events sent against lines accepted, by ``(symbol, event_time)``."""

    sent: int
    accepted: int
    lost: int  # sent, never accepted
    doubled: int  # accepted more than once (the extra copies)
    unknown: int  # accepted, never sent

    @classmethod
    def of(cls, run: Run, keys: list[list[Any]]) -> Exactness:
        sent = Counter((event.symbol, event.event_time) for event in run.server.sent)
        accepted = Counter((symbol, event_time) for symbol, event_time in keys)
        doubled = sum(count - 1 for count in accepted.values() if count > 1)
        return cls(sum(sent.values()), sum(accepted.values()),
                   lost=sum((sent - accepted).values()), doubled=doubled,
                   unknown=sum((accepted - sent).values()) - doubled)

    @property
    def exact(self) -> bool:
        return self.lost == self.doubled == self.unknown == 0


def print_figures(run: Run, outcome: Outcome, bare_ms: float) -> None:
    args, figures, final = run.args, outcome.figures, outcome.final
    market_seconds = run.source.taken
    events = figures["events"]
    records = final["accepted_records"]
    ingester_ms = figures["cpu"] / events * 1e6
    idle_per_second = figures["idle_cpu_per_second"]
    busy_ms = (figures["cpu"] - idle_per_second * figures["seconds"]) / events * 1e6
    print()
    print(f"whole market: {len(WHOLE_MARKET):,} symbols, {market_seconds} s of market "
          f"(one !miniTicker@arr frame a second), seed {args.seed}")
    print(f"events/s          {events / market_seconds:>12,.0f}   ({events:,} events)")
    print(f"records/s         {records / market_seconds:>12,.1f}   ({records:,} records)")
    print(f"bytes a record    {final['accepted_bytes'] / records:>12,.0f}   (data and key, mean)")
    print(f"lines a record    {final['lines'] / records:>12,.1f}")
    print(f"throttled entries {final['throttled_entries']:>12,}")
    print(f"lag               {percentile_line(outcome.lags['first'])}"
          + ("  (before the squeeze)" if args.squeeze else ""))
    if args.squeeze:
        print(f"lag, squeeze on   {percentile_line(outcome.lags['squeezed'])}")
    print(f"ingester CPU      {ingester_ms:>12,.1f} ms per 1,000 events   "
          f"(bare loop {bare_ms:,.1f} ms: {ingester_ms / bare_ms:.2f}x)")
    print(f"  of which idle   {idle_per_second * 1e3:>12,.1f} ms a second with no frames "
          f"(timers, threads); the rest {busy_ms:,.1f} ms per 1,000 events "
          f"({busy_ms / bare_ms:.2f}x)")
    if args.squeeze:
        first_ms = figures["first_part_cpu"] / figures["first_part_events"] * 1e6
        print(f"  before squeeze  {first_ms:>12,.1f} ms per 1,000 events   "
              f"({first_ms / bare_ms:.2f}x)")
        print(f"ingester RSS      peak {figures['first_part_rss_kib'] / 1024:,.1f} MiB before "
              f"the squeeze, {figures['squeeze_peak_rss_kib'] / 1024:,.1f} MiB sampled during "
              "it and after")
    print(f"ingester peak RSS {figures['peak_rss_kib'] / 1024:>12,.1f} MiB (VmHWM)")
    print(f"endpoint CPU      {outcome.endpoint_cpu / events * 1e6:>12,.1f} ms per 1,000 "
          "events (the stand-in's own cost, in its own process)")
    if outcome.totals is not None:
        totals = outcome.totals
        print("ingester totals   " + ", ".join(
            f"{name} {totals.get(name, 0):,.0f}" for name in (
                MetricName.EVENTS_PUT, MetricName.THROTTLED_RECORDS,
                MetricName.EVENTS_RECEIVED)))


def report(run: Run, outcome: Outcome) -> int:
    """Print the figures and the targets; 1 if anything was lost, doubled or miscounted."""
    final, totals = outcome.final, outcome.totals
    events = outcome.figures["events"]
    exactness = Exactness.of(run, outcome.keys)
    frames = [json.dumps({"stream": ALL_MARKET_STREAM, "data": tick},
                         separators=(",", ":")).encode() for tick in run.source.ticks]
    bare_cpu = min(bare_loop(frames) for _ in range(3))  # best of three: a quiet moment
    print_figures(run, outcome, bare_cpu / events * 1e6)
    print(f"sent / accepted   {exactness.sent:,} events sent, {exactness.accepted:,} lines "
          f"accepted: {exactness.lost:,} lost, {exactness.doubled:,} doubled, "
          f"{exactness.unknown:,} never sent")
    print()
    lag_p99 = outcome.lags["first"]["p99"]
    lag_met = lag_p99 is not None and lag_p99 < LAG_P99_TARGET_MS
    print(f"target lag p99 < {LAG_P99_TARGET_MS / 1000:.0f} s: "
          f"{'met' if lag_met else 'MISSED'} ({lag_p99} ms)")
    exact = exactness.exact and final["unreadable_lines"] == 0
    print(f"target nothing lost or doubled: {'met' if exact else 'MISSED'}")
    problems = []
    if not exact:
        problems.append(f"{exactness.lost} events lost, {exactness.doubled} doubled, "
                        f"{exactness.unknown} never sent, {final['unreadable_lines']} "
                        "unreadable lines")
    if outcome.status != 0:
        problems.append(f"the ingester exited with status {outcome.status}")
    if totals is None:
        problems.append("the ingester wrote no final status")
    else:
        put = totals.get(MetricName.EVENTS_PUT)
        throttled = totals.get(MetricName.THROTTLED_RECORDS, 0)
        if put != events:
            problems.append(f"the ingester counted {put} events put, {events} were sent")
        if throttled != final["throttled_entries"]:
            problems.append(f"the ingester counted {throttled} throttled records, the "
                            f"endpoint {final['throttled_entries']}")
    if problems:
        print("FAILED: " + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60,
                        help="seconds of market, unthrottled by anything but the shard's "
                             "limits (default 60)")
    parser.add_argument("--squeeze", type=int, default=0, metavar="SECONDS",
                        help="then this many seconds of market with the shard's byte budget "
                             "cut (default 0: none)")
    parser.add_argument("--squeeze-fraction", type=float, default=0.5,
                        help="the squeezed budget, a fraction of the market's byte rate")
    parser.add_argument("--recover", type=int, metavar="SECONDS",
                        help="seconds of market after the squeeze (default: the squeeze's)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.seconds < 1 or args.squeeze < 0 or not 0 < args.squeeze_fraction < 1:
        parser.error("--seconds must be at least 1, --squeeze 0 or more, "
                     "--squeeze-fraction between 0 and 1")
    if args.recover is None:
        args.recover = args.squeeze
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-whole-market-") as workdir:
        run = Run(args, Path(workdir))
        try:
            figures = run.market()
            status, totals = run.stop_ingester()
            outcome = Outcome(figures, run.endpoint.get("/stats"), run.lags(figures),
                              run.endpoint.get("/keys"), status, totals)
        finally:
            endpoint_cpu = run.close()
        outcome.endpoint_cpu = endpoint_cpu
        return report(run, outcome)


if __name__ == "__main__":
    sys.exit(main())
