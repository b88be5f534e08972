"""The whole pipeline on this machine, offline (docs/architecture.md §4): ``make demo`` / ``python
-m local``.

Parts: moto's server (S3, Kinesis, DynamoDB, Secrets Manager, Glue catalog) set up with the
stack's names for environment ``local``; the local Binance server replaying generated market
data; the real ingester (``python -m ingest``) as a child process; a Firehose-like drain; an
event-source-mapping-like poller calling the real consumer handler; at the end, the real Glue
job over the hours produced. From the start, a web server on loopback serves the built price
page and the real read API handler (called in process, as the function URL would). Then a
summary (``DIR/summary.json``), the data itself (raw objects, Parquet files, DynamoDB items, the
events sent) and the report (``DIR/report.html``: the same page, rendered from the run's data).
After the run the page stays up until Ctrl+C when started from a terminal (``--linger``).

``--market all`` runs the whole market (`market_sim.WHOLE_MARKET`, one ``!miniTicker@arr`` frame a
tick). Where a stand-in cannot keep up, the run degrades visibly, never silently: the progress
line shows how far each part is behind the market (the ingester's puts, the consumer's writes,
in events and in seconds of market), and once the market stops the run drains what is left,
still printing progress, until every store holds every event or nothing moves any more.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import importlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import pyarrow as pa
import pyarrow.dataset as ds
from boto3.dynamodb.types import TypeDeserializer

from glue_jobs.curation.hourly import run as curate
from glue_jobs.curation.reading import list_keys
from glue_jobs.curation.settings import parse_settings as curation_settings
from ingest.environment import LIVE_URL
from ingest.environment import variables as ingester_variables
from ingest.metric_names import MetricName as IngestMetric
from ingest.status import IngestStatus, read_status
from lambdas.api.settings import environment as api_environment
from lambdas.consumer.settings import environment as consumer_environment
from market_sim import POPULAR, WHOLE_MARKET, MarketDataGenerator, Payload
from market_sim.server import BinanceServer, SentEvent
from miniticker import (
    ALL_MARKET_STREAM,
    InvalidMiniTicker,
    hot_table,
    layout,
    normalize_message,
    stream_name_for,
)
from miniticker.metrics import NAMESPACE
from miniticker.validate import check_symbol
from stacks.settings import local_settings

from . import output
from .aws import REGION, LocalAws
from .event_source import EventSourcePoller
from .firehose import FirehoseDrain
from .function_url import FunctionUrl
from .moto_patches import stored_items
from .report import write_report
from .web_server import DEFAULT_PORT, PORT_OPTION, PortBusy, WebServer

REPO = Path(__file__).resolve().parents[1]
WEB_ROOT = REPO / "web" / "dist"  # what `make web` builds
#: The markets `--market` names: a few popular pairs on a stream each, or the whole market on
#: the all-market stream.
MARKETS = {"popular": POPULAR, "all": WHOLE_MARKET}
#: After the market stops, a part that makes no progress this long with work left stops the run,
#: named: far longer than one consumer invocation may take (its time limit), so a slow
#: stand-in is waited for and only a stuck one is reported.
STALL_SECONDS = 300.0
#: The market's and the ingester's rates on the progress line are over the last seconds.
RATE_WINDOW_SECONDS = 5.0
REPORT_PROGRESS_SECONDS = 10.0
#: The ingester's heartbeat (its totals, which the progress line reads) comes with its metrics:
#: every second keeps the line current.
INGEST_METRICS_SECONDS = 1
#: DIR's file of each family of DynamoDB items (miniticker.hot_table).
ITEM_FILES = {"event": "dynamodb.jsonl", "latest": "dynamodb-latest.jsonl",
              "candle": "dynamodb-candles.jsonl"}
#: Powertools in the functions called in process: warnings and errors only (their logs go to
#: DIR/consumer.log and DIR/api.log), no X-Ray daemon to send traces to.
FUNCTION_ENVIRONMENT = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_TRACE_DISABLED": "true"}


class PartFailed(RuntimeError):
    """One part of the run failed; the message names it."""


class Interrupted(Exception):
    pass


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=60.0,
                        help="seconds of market data (default 60)")
    market = parser.add_mutually_exclusive_group()
    market.add_argument("--market", choices=tuple(MARKETS), default="popular",
                        help=f"popular (the default): {len(POPULAR)} popular USDT pairs, a "
                             f"stream each; all: the whole market, {len(WHOLE_MARKET):,} "
                             f"symbols on {ALL_MARKET_STREAM}, one frame a tick")
    market.add_argument("--symbols",
                        help="comma-separated symbols, a stream each (instead of --market)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="events per second per symbol (Binance's pace is 1)")
    parser.add_argument("--source", choices=("synthetic", "binance"), default="synthetic",
                        help="generated data, or Binance's live feed (needs the internet)")
    parser.add_argument("--out", type=Path, default=Path("demo-out"),
                        help="where the summary, report and data go (emptied first)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hot-table-resolution", type=int, default=0, metavar="SECONDS",
                        help="the consumer's HOT_TABLE_RESOLUTION_SECONDS: 0 (the default) "
                             "keeps an event item per event, N one per symbol per N seconds")
    parser.add_argument("--no-report", dest="report", action="store_false",
                        help="write no report.html (it asks the read API four questions a "
                             "symbol: at the whole market, minutes)")
    parser.add_argument(PORT_OPTION, dest="web_port", type=int, default=DEFAULT_PORT,
                        metavar="PORT", help=f"the page's port on 127.0.0.1 (default "
                        f"{DEFAULT_PORT}; 0: any free port)")
    parser.add_argument("--linger", type=float, metavar="SECONDS",
                        help="after the run, serve the page this long (default: until Ctrl+C "
                             "when started from a terminal, not at all otherwise)")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.speed <= 0:
        parser.error("--duration and --speed must be positive")
    if not 0 <= args.web_port <= 65535:
        parser.error(f"{PORT_OPTION} must be a port number (0 to 65535)")
    if args.linger is not None and not 0 <= args.linger < math.inf:
        parser.error("--linger must be a number of seconds, 0 or more")
    if not 0 <= args.hot_table_resolution <= hot_table.MAX_RESOLUTION_SECONDS:
        parser.error(f"--hot-table-resolution must be 0 to {hot_table.MAX_RESOLUTION_SECONDS} "
                     f"seconds")
    if args.symbols is None:
        args.symbols = list(MARKETS[args.market])
    else:
        args.market = None  # the symbols named
        args.symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
        if not args.symbols:
            parser.error("--symbols names no symbol")
        for symbol in args.symbols:
            try:
                check_symbol(symbol, symbol)
            except InvalidMiniTicker as error:
                parser.error(f"--symbols: {error.reason}")
    # The whole market comes as one array a tick, as Binance sends it; fewer symbols a stream
    # each (what the default stack subscribes to).
    args.streams = ((ALL_MARKET_STREAM,) if args.market == "all"
                    else tuple(stream_name_for(s) for s in args.symbols))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not (WEB_ROOT / "index.html").is_file():
        print(f"make demo: the page is not built ({WEB_ROOT.relative_to(REPO)}/index.html is "
              f"missing): run `make web`", file=sys.stderr)
        return 2
    try:
        summary = Demo(args).run()
    except PartFailed as error:
        print(f"\ndemo stopped: {error}", file=sys.stderr)
        return 1
    return 0 if summary["exact"] or args.source == "binance" else 1


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out: Path = args.out
        self.settings = local_settings(args.streams)
        self.interrupted = False
        self.lingering: threading.Event | None = None  # set once the run is over and serving
        # The functions print their logs and metrics (EMF) as they would in Lambda; in this
        # process they go to files (output.ThreadOutput), and the progress to the console.
        self.console = sys.stdout
        self.consumer_log: Any = None
        self.api_log: Any = None
        self.endpoints: dict[str, str] = {}

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        if self.out.exists():
            shutil.rmtree(self.out)  # a second run starts fresh
        self.out.mkdir(parents=True)
        with contextlib.ExitStack() as stack:  # stopped in reverse order, whatever happens
            self.consumer_log = stack.enter_context((self.out / "consumer.log").open("w"))
            self.api_log = stack.enter_context((self.out / "api.log").open("w"))
            previous = {s: signal.signal(s, self._interrupt)
                        for s in (signal.SIGINT, signal.SIGTERM)}
            for number, handler in previous.items():
                stack.callback(signal.signal, number, handler)
            # Before the functions are imported: their loggers keep the sys.stdout they find.
            stack.enter_context(output.installed())
            aws = self._part("AWS (moto server)", lambda: LocalAws.start(self.settings))
            stack.callback(aws.stop)
            os.environ.update(aws.environment)
            web = self._start_web()
            stack.callback(web.stop)
            print(f"page: {web.url}", file=self.console, flush=True)
            self._endpoints(aws=aws.endpoint, page=web.url, table=self.settings.table_name)
            server, url = self._binance()
            if server is not None:
                stack.callback(server.stop)
            self._endpoints(binance=url)
            ingester = self._start_ingester(aws, url)
            stack.callback(_kill_if_running, ingester)
            drain, poller = self._start_runners(aws)
            started = time.time()
            progress = Progress(started, self.console)
            self._progress(progress, server, drain, poller, ingester)
            print("\nstopping: the market, then the ingester (once it has put what it read), "
                  "then the runners (once they have read the stream)", file=self.console,
                  flush=True)
            progress.market_stopped = time.time()
            if server is not None:
                server.halt()
            self._finish(progress, server, drain, poller, ingester)
            with self._timed("the Glue job raw_to_parquet"):
                glue = self._part("Glue job raw_to_parquet", lambda: self._convert(aws))
            summary = self._summary(aws, server, poller=poller, drain=drain, glue=glue,
                                    progress=progress, seconds=time.time() - started)
            # While moto is up: the report is the page over what the API answers now.
            report: Path | str = "not written (--no-report)"
            if self.args.report:
                with self._timed("the report"):
                    report = self._part("report", lambda: write_report(
                        self.out, web.api, WEB_ROOT, progress=self._report_progress()))
            print(f"\nsummary: {self.out / 'summary.json'}\nreport:  {report}",
                  file=self.console, flush=True)
            self._linger(web)
        return summary

    @contextlib.contextmanager
    def _timed(self, what: str) -> Iterator[None]:
        """After the run, a part that took a while (at the whole market) says how long."""
        began = time.monotonic()
        yield
        seconds = time.monotonic() - began
        if seconds >= 1.0:
            print(f"{what}: {seconds:.1f} s", file=self.console, flush=True)

    def _report_progress(self) -> Callable[[int, int], None]:
        """A line every `REPORT_PROGRESS_SECONDS` while the report asks the read API (four
        questions a symbol: minutes at the whole market)."""
        last = time.monotonic()

        def answered(done: int, total: int) -> None:
            nonlocal last
            if time.monotonic() - last >= REPORT_PROGRESS_SECONDS:
                last = time.monotonic()
                print(f"the report: {done:,} of the read API's {total:,} answers",
                      file=self.console, flush=True)
        return answered

    def _interrupt(self, number: int, _frame: Any) -> None:
        if self.lingering is not None:  # the run is over: stop serving
            self.lingering.set()
            return
        if self.interrupted:  # a second Ctrl+C: stop at once
            raise KeyboardInterrupt
        self.interrupted = True
        print(f"\n{signal.Signals(number).name}: finishing what was read (Ctrl+C again to abort)",
              file=self.console, flush=True)

    @staticmethod
    def _part(name: str, start: Any) -> Any:
        try:
            return start()
        except Exception as error:
            raise PartFailed(f"{name} failed: {type(error).__name__}: {error}") from error

    def _start_web(self) -> WebServer:
        """The page and the read API handler, in process, as the function URL would call it."""
        settings = self.settings
        os.environ.update({**api_environment(settings.table_name, settings.retention_days,
                                             NAMESPACE), **FUNCTION_ENVIRONMENT})
        handler = self._part("read API", lambda: importlib.import_module(
            "lambdas.api.handler").handler)
        api = FunctionUrl(handler, f"{settings.stack_name}-api", output=self.api_log)
        try:
            return WebServer(WEB_ROOT, api, port=self.args.web_port).start()
        except PortBusy as error:
            raise PartFailed(str(error)) from None
        except OSError as error:
            raise PartFailed(f"web server failed: {error}") from error

    def _endpoints(self, **found: str) -> None:
        """Where the parts listen, in DIR/endpoints.json as soon as known (tests read the table
        and open the page during the run); replaced whole, never read half-written."""
        self.endpoints.update(found)
        temporary = self.out / "endpoints.json.tmp"
        temporary.write_text(json.dumps(self.endpoints, indent=2) + "\n")
        temporary.replace(self.out / "endpoints.json")

    def _linger(self, web: WebServer) -> None:
        """Serve the page after the run: ``--linger`` seconds, else until Ctrl+C from a
        terminal; not at all from a script (CI would wait for ever)."""
        seconds = self.args.linger
        if seconds is None:
            seconds = math.inf if sys.stdin is not None and sys.stdin.isatty() else 0.0
        if seconds <= 0:
            return
        self.lingering = threading.Event()
        until = "until Ctrl+C" if seconds == math.inf else f"for {seconds:g} s (Ctrl+C ends it)"
        print(f"\nthe run is over; serving the page at {web.url} {until}", file=self.console,
              flush=True)
        deadline = time.monotonic() + seconds
        while not self.lingering.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.lingering.wait(min(left, 1.0))

    def _binance(self) -> tuple[BinanceServer | None, str]:
        if self.args.source == "binance":
            return None, LIVE_URL
        interval_ms = max(1, round(1000 / self.args.speed))
        began = time.monotonic()
        generator = MarketDataGenerator(self.args.symbols, seed=self.args.seed,
                                        start_ms=int(time.time() * 1000),
                                        interval_ms=interval_ms, jitter_ms=0)
        streams = self.settings.streams
        print(f"market: {len(self.args.symbols):,} symbols on "
              f"{streams[0] if len(streams) == 1 else f'{len(streams):,} streams'}, a tick "
              f"every {interval_ms / 1000:g} s (their day of history made in "
              f"{time.monotonic() - began:.1f} s)", file=self.console, flush=True)
        server = self._part("local Binance server", lambda: BinanceServer(
            WallClockMarket(generator), tick_seconds=interval_ms / 1000,
            wait_for_client=True).start())
        return server, server.url

    def _start_ingester(self, aws: LocalAws, url: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, **aws.environment, **ingester_variables(
            kinesis_stream_name=self.settings.stream_name, ws_url=url,
            secret_id=self.settings.secret_name, spool_dir=self.out / "spool",
            health_file=self.out / "heartbeat.json",
            metrics_interval_seconds=INGEST_METRICS_SECONDS, flush_timeout_seconds=20)}
        with (self.out / "ingest.log").open("ab") as log:
            return subprocess.Popen([sys.executable, "-m", "ingest"], cwd=REPO, env=env,
                                    stdout=log, stderr=subprocess.STDOUT)

    def _start_runners(self, aws: LocalAws) -> tuple[FirehoseDrain, EventSourcePoller]:
        settings = self.settings
        os.environ.update({**consumer_environment(
            settings.table_name, settings.retention_days, settings.price_metrics,
            resolution_seconds=self.args.hot_table_resolution), **FUNCTION_ENVIRONMENT})
        handler = importlib.import_module("lambdas.consumer.handler").handler
        kinesis = aws.client("kinesis")
        drain = FirehoseDrain(
            kinesis, aws.client("s3"), stream=settings.stream_name, bucket=aws.bucket,
            name=f"{settings.stack_name}-archive",
            buffer_bytes=settings.firehose_buffer_mb * 2**20,
            # Firehose's interval, shortened for a run of minutes (its objects still hold
            # several seconds of data; the drain flushes at the end either way).
            buffer_seconds=min(settings.firehose_buffer_seconds, 10))
        arn = f"arn:aws:kinesis:{REGION}:000000000000:stream/{settings.stream_name}"
        poller = EventSourcePoller(
            kinesis, stream=settings.stream_name, stream_arn=arn, handler=handler,
            function_name=f"{settings.stack_name}-consumer",
            batch_size=settings.consumer_batch_size,
            batching_window=self._batching_window(),
            retry_attempts=settings.consumer_retry_attempts,
            output=self.consumer_log)
        drain.start()
        poller.start()
        return drain, poller

    def _batching_window(self) -> float:
        """The stack's batching window; for a few symbols capped at a second, so that a run of
        minutes shows items promptly. At the whole market a batch fills in seconds anyway, and
        the stack's window keeps the latest items' and candles' writes (one per symbol and
        batch, whatever the batch's size) as few as in AWS."""
        window = float(self.settings.consumer_batching_window_seconds)
        return window if self.args.market == "all" else min(window, 1.0)

    def _progress(self, progress: Progress, server: BinanceServer | None, drain: FirehoseDrain,
                  poller: EventSourcePoller, ingester: subprocess.Popen[bytes]) -> None:
        """A line a second while the market runs."""
        deadline = time.monotonic() + self.args.duration
        while time.monotonic() < deadline and not self.interrupted:
            time.sleep(1.0)
            self._check(ingester, drain, poller)
            progress.record(self._counts(server, drain, poller))

    def _finish(self, progress: Progress, server: BinanceServer | None, drain: FirehoseDrain,
                poller: EventSourcePoller, ingester: subprocess.Popen[bytes]) -> None:
        """After the market stopped: the ingester puts what it read, then stops; the runners
        read the stream to its end. A line a second until then, however long it takes; a part
        that makes no progress for `STALL_SECONDS` with work left stops the run, named."""
        def ingester_done(counts: Counts) -> bool:
            if counts.ingester_backlog:
                return False
            # Frames still in the socket are read first: every event the market sent is put
            # (or dropped as a repeat, when two connections overlapped). The live feed's count
            # is what the ingester read: nothing to wait for once it has put that.
            return server is None or counts.put + counts.duplicates >= counts.generated

        def while_ingesting() -> Counts:
            self._check(ingester, drain, poller)
            return self._counts(server, drain, poller)

        self._wait(progress, "the ingester", ingester_done, lambda c: c.put, while_ingesting)
        self._stop_ingester(ingester)
        for part in (drain, poller):
            part.stop()

        def runners_done(_counts: Counts) -> bool:
            return not drain.is_alive() and not poller.is_alive()

        def while_reading() -> Counts:
            self._check(None, drain, poller)
            return self._counts(server, drain, poller)

        self._wait(progress, "the Firehose drain and the event-source poller", runners_done,
                   lambda c: c.archived + c.written, while_reading)
        self._check(None, drain, poller)  # a runner that ended by an error

    @staticmethod
    def _wait(progress: Progress, part: str, done: Callable[[Counts], bool],
              moving: Callable[[Counts], int], sample: Callable[[], Counts]) -> None:
        """Wait for ``done`` of the counts ``sample`` takes, printing progress; `PartFailed`
        when ``moving`` of them stays the same for `STALL_SECONDS`."""
        last_move, last_value = time.monotonic(), -1
        while True:
            counts = sample()
            if done(counts):
                progress.record(counts, f"{part}: done")
                return
            if moving(counts) != last_value:
                last_move, last_value = time.monotonic(), moving(counts)
            elif time.monotonic() - last_move > STALL_SECONDS:
                raise PartFailed(f"{part} made no progress for {STALL_SECONDS:.0f} s after the "
                                 f"market stopped ({progress.describe(counts)})")
            progress.record(counts)
            time.sleep(1.0)

    def _check(self, ingester: subprocess.Popen[bytes] | None, drain: FirehoseDrain,
               poller: EventSourcePoller) -> None:
        if ingester is not None and ingester.poll() is not None:
            raise PartFailed(f"the ingester exited with status {ingester.returncode} "
                             f"(see {self.out / 'ingest.log'})")
        for part in (drain, poller):
            if part.error:
                raise PartFailed(f"{part.name} failed: {part.error!r}")

    def _counts(self, server: BinanceServer | None, drain: FirehoseDrain,
                poller: EventSourcePoller) -> Counts:
        status = self._ingest_status()
        received = status.count(IngestMetric.EVENTS_RECEIVED)
        if server is not None and server.sent:
            sent = server.sent
            generated = len(sent)
            # The market's own clock: event times run a tick apart from the first tick on.
            market_seconds = ((sent[-1].event_time - sent[0].event_time) / 1000
                              + server.tick_seconds)
        else:  # the live feed: what the ingester read, since the run began
            generated, market_seconds = received, None
        return Counts(at=time.time(), generated=generated, received=received,
                      duplicates=status.count(IngestMetric.DUPLICATES_DROPPED),
                      put=status.count(IngestMetric.EVENTS_PUT),
                      ingester_backlog=status.backlog,
                      archived=drain.events, written=poller.events_done,
                      market_seconds=market_seconds)

    def _ingest_status(self) -> IngestStatus:
        """The ingester's status file: its totals and backlog (events accepted, not yet put),
        final once it has stopped; zeros before its first write."""
        return read_status(self.out / "heartbeat.json") or IngestStatus(
            connections=0, connected=0, backlog=0, totals={})

    def _stop_ingester(self, ingester: subprocess.Popen[bytes]) -> None:
        ingester.send_signal(signal.SIGTERM)
        try:
            status = ingester.wait(60)
        except subprocess.TimeoutExpired:
            raise PartFailed("the ingester did not stop within 60 s of SIGTERM") from None
        if status != 0:
            raise PartFailed(f"the ingester exited with status {status} "
                             f"(see {self.out / 'ingest.log'})")

    def _convert(self, aws: LocalAws) -> dict[str, Any]:
        """The Glue job over every hour the drain wrote."""
        s3 = aws.client("s3")
        hours = sorted({layout.hour_of_raw_key(key, layout.RAW_PREFIX)
                        for key in list_keys(s3, aws.bucket, layout.RAW_PREFIX)})
        if not hours:
            return {"rows_new": 0, "duplicates": 0, "quarantined": 0, "hours": []}
        end = hours[-1] + timedelta(hours=1)
        settings = curation_settings([
            "--bucket", aws.bucket, "--database", self.settings.database_name, "--start",
            hours[0].strftime(layout.HOUR_FORMAT), "--end", end.strftime(layout.HOUR_FORMAT)])
        summary: dict[str, Any] = curate(settings, s3=s3, glue=aws.client("glue"))
        return summary

    # --- what the run produced ----------------------------------------------------------------

    def _summary(self, aws: LocalAws, server: BinanceServer | None, *,
                 poller: EventSourcePoller, drain: FirehoseDrain, glue: dict[str, Any],
                 progress: Progress, seconds: float) -> dict[str, Any]:
        sent = self._export_sent(server)
        with self._timed("exporting the raw objects"):
            raw_lines = [line for body in self._export(aws, layout.RAW_PREFIX)
                         for line in gzip.decompress(body).splitlines()]
        with self._timed("exporting the Parquet files"):
            parquet_files = len(self._export(aws, layout.CURATED_PREFIX))
            for prefix in (layout.CANDLES_PREFIX, layout.COVERAGE_PREFIX):
                self._export(aws, prefix)
        with self._timed("exporting the DynamoDB table"):
            items, latest, candles = self._export_items()
        ingested = self._ingest_status()
        latencies = sorted(poller.latencies_ms)
        raw_keys = _keys_of_lines(raw_lines)
        item_keys = [(i["symbol"], int(i["event_time"])) for i in items]
        parquet_keys = _parquet_keys(self.out / layout.CURATED_PREFIX)
        # The derived tables count every curated event once (no compaction runs here, so every
        # file is at its partition's hourly location).
        curated_candles = _derived_counts(self.out / layout.CANDLES_PREFIX)
        curated_coverage = _derived_counts(self.out / layout.COVERAGE_PREFIX)
        sent_keys = sorted(sent)
        retention_ms = self.settings.retention_days * 86_400_000
        now_ms = int(time.time() * 1000)
        within_retention = sorted(k for k in sent_keys if k[1] >= now_ms - retention_ms)
        resolution = self.args.hot_table_resolution
        expected_items = (within_retention if not resolution else _event_items_at(
            [e for e in server.sent if e.event_time >= now_ms - retention_ms] if server else [],
            resolution))
        # The read API's items: each symbol's latest item is its newest event, and the 1-minute
        # candles count every event once, in the minute of its exchange time.
        newest: dict[str, int] = {}
        for symbol, event_time in within_retention:
            newest[symbol] = max(event_time, newest.get(symbol, event_time))
        latest_times = {i[hot_table.SORT_KEY]: int(i[hot_table.LATEST_EVENT_TIME])
                        for i in latest}
        sent_minutes = Counter((s, hot_table.minute_start(t)) for s, t in within_retention)
        candle_counts = Counter({(c[hot_table.CANDLE_SYMBOL], int(c[hot_table.CANDLE_START])):
                                 int(c[hot_table.CANDLE_EVENTS]) for c in candles})
        exact = (server is not None and sorted(raw_keys) == sent_keys
                 and sorted(parquet_keys) == sent_keys
                 and sorted(item_keys) == expected_items
                 and latest_times == newest and candle_counts == sent_minutes
                 and curated_candles[1] == curated_coverage[1] == len(parquet_keys))
        summary = {
            "duration_seconds": round(seconds, 1),
            "market": self.args.market or "symbols",
            "streams": len(self.settings.streams),
            "symbols": self.args.symbols,
            "source": self.args.source,
            "events_generated": len(sent_keys) if server else None,
            "events_received_by_ingester": ingested.count(IngestMetric.EVENTS_RECEIVED),
            "events_put_to_kinesis": ingested.count(IngestMetric.EVENTS_PUT),
            "events_in_raw_s3": len(raw_keys),
            "raw_objects": drain.objects,
            "items_in_dynamodb": len(item_keys),
            "hot_table_resolution_seconds": resolution,
            "latest_items": len(latest),
            "candle_items": len(candles),
            "events_in_candles": sum(candle_counts.values()),
            "rows_in_parquet": len(parquet_keys),
            "parquet_files": parquet_files,
            "curated_candles_1m_rows": curated_candles[0],
            "events_in_curated_candles_1m": curated_candles[1],
            "curated_coverage_rows": curated_coverage[0],
            "events_in_curated_coverage": curated_coverage[1],
            "duplicates_removed": glue.get("duplicates", 0),
            "quarantined": glue.get("quarantined", 0),
            "consumer_invocations": poller.invocations,
            "records_set_aside_by_consumer": len(poller.set_aside),
            "latency_ms": {f"p{p}": _percentile(latencies, p) for p in (50, 95, 99)},
            **progress.summary(),
            "stopped_early": self.interrupted,
            "exact": exact,
            # Where the parts listened: free again once the run is over.
            "endpoints": {name: self.endpoints[name] for name in ("aws", "page", "binance")},
        }
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        shown = dict(summary)
        if len(self.args.symbols) > len(POPULAR):  # a market's names: in the file, not here
            shown["symbols"] = f"{len(self.args.symbols):,} (in {self.out / 'summary.json'})"
        print(json.dumps(shown, indent=2), file=self.console, flush=True)
        return summary

    def _export_sent(self, server: BinanceServer | None) -> set[tuple[str, int]]:
        if server is None:
            return set()
        sent = {(e.symbol, e.event_time) for e in server.sent}
        with (self.out / "sent.jsonl").open("w") as out:
            for symbol, event_time in sorted(sent):
                out.write(json.dumps({"symbol": symbol, "event_time": event_time}) + "\n")
        return sent

    def _export(self, aws: LocalAws, prefix: str) -> list[bytes]:
        """Copy every object under ``prefix`` into DIR (``DIR/raw/miniticker/...``,
        ``DIR/curated/...``); returns their contents."""
        s3 = aws.client("s3")
        bodies = []
        for key in list_keys(s3, aws.bucket, prefix):
            body: bytes = s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read()
            target = self.out / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
            bodies.append(body)
        return bodies

    def _export_items(self) -> tuple[list[dict[str, Any]], ...]:
        """The table's event, latest and candle items (miniticker.hot_table), each family in a
        file of its own; only event items are one per record, so only they are counted.

        Read from moto's own store (`local.moto_patches.stored_items`), not with Scan."""
        deserialize = TypeDeserializer().deserialize
        families: dict[str, list[dict[str, Any]]] = {name: [] for name in ITEM_FILES}
        for raw in stored_items(REGION, self.settings.table_name):
            item = {k: deserialize(v) for k, v in raw.items()}
            families[_family(item[hot_table.PARTITION_KEY])].append(item)
        for name, items in families.items():
            with (self.out / ITEM_FILES[name]).open("w") as out:
                for item in sorted(items, key=lambda i: (i[hot_table.PARTITION_KEY],
                                                         i[hot_table.SORT_KEY])):
                    out.write(json.dumps(item, default=_decimal_text) + "\n")
        return families["event"], families["latest"], families["candle"]


class WallClockMarket:
    """The generator's ticks, with event times from the first tick's wall-clock time on.

    The market's clock starts when the ingester connects, a while after the generator was made
    (a large market's day of history takes seconds): without this, every event would look that
    much older than it is, and the end-to-end latency would count the start-up.
    """

    def __init__(self, generator: MarketDataGenerator) -> None:
        self.generator = generator
        self._started = False

    def next_tick(self) -> list[Payload]:
        if not self._started:
            self._started = True
            self.generator.next_tick_ms = int(time.time() * 1000)
        return self.generator.next_tick()


class Counts(NamedTuple):
    """Events each part had handled at one moment (the ingester's from its heartbeat)."""

    at: float  # epoch seconds
    generated: int  # sent by the market (the live feed: read by the ingester)
    received: int  # read by the ingester
    duplicates: int  # read twice (overlapping connections) and dropped by the ingester
    put: int  # accepted by Kinesis
    ingester_backlog: int  # read by the ingester, not yet put
    archived: int  # in S3 objects of the Firehose-like drain
    written: int  # in consumer batches that succeeded
    market_seconds: float | None  # seconds of market the events span (None: the live feed)


#: The parts' counts the progress line and the summary give rates of.
RATE_PARTS = ("generated", "put", "archived", "written")


@dataclass
class Progress:
    """The run's counts, second by second: a progress line with how fast each part goes and how
    far it is behind the market; the peaks and the rates achieved for the summary."""

    started: float  # epoch seconds
    console: TextIO
    market_stopped: float | None = None
    peak_ingester_backlog: int = 0  # events sent, not yet put
    peak_consumer_backlog: int = 0  # events put, not yet written
    peak_consumer_backlog_seconds: float = 0.0  # the same, in seconds of market
    last: Counts | None = None
    market_began: float | None = None  # epoch seconds of the market's first event
    #: When each part's count last grew, the part's own finishing time.
    grew_at: dict[str, float] = field(default_factory=dict)
    _recent: deque[Counts] = field(default_factory=deque)

    def market_rate(self, counts: Counts) -> float:
        """Events a second of market, so far."""
        seconds = (counts.market_seconds if counts.market_seconds is not None
                   else (self.market_stopped or counts.at) - self.started)
        return counts.generated / seconds if seconds > 0 else 0.0

    def record(self, counts: Counts, note: str = "") -> None:
        previous = self.last
        for name in RATE_PARTS:
            if previous is None or getattr(counts, name) > getattr(previous, name):
                self.grew_at[name] = counts.at
        self.last = counts
        if self.market_began is None and counts.generated:
            self.market_began = counts.at - (counts.market_seconds or 0.0)
        self.peak_ingester_backlog = max(self.peak_ingester_backlog,
                                         counts.generated - counts.put)
        backlog = max(0, counts.put - counts.written)
        if backlog > self.peak_consumer_backlog:
            self.peak_consumer_backlog = backlog
            rate = self.market_rate(counts)
            self.peak_consumer_backlog_seconds = backlog / rate if rate else 0.0
        self._recent.append(counts)
        while counts.at - self._recent[0].at > RATE_WINDOW_SECONDS:
            self._recent.popleft()
        print(f"{counts.at - self.started:5.0f}s  {self.describe(counts)}"
              f"{f'  ({note})' if note else ''}", file=self.console, flush=True)

    def describe(self, counts: Counts) -> str:
        """Counts; the market's and the ingester's rates over the last seconds, the consumer's
        since the market began (it writes a batch at a time); how far behind each part is."""
        oldest = self._recent[0] if self._recent else counts
        span = counts.at - oldest.at
        market_now, put_now = ((counts.generated - oldest.generated) / span if span else 0.0,
                               (counts.put - oldest.put) / span if span else 0.0)
        market_rate = self.market_rate(counts)
        began = self.market_began if self.market_began is not None else self.started
        consumer_rate = counts.written / (counts.at - began) if counts.at > began else 0.0
        share = f" ({consumer_rate / market_rate:.0%} of the market's)" if market_rate else ""
        consumer_behind = max(0, counts.put - counts.written)
        behind_seconds = consumer_behind / market_rate if market_rate else 0.0
        text = (f"generated {counts.generated:,}  put {counts.put:,}  "
                f"archived {counts.archived:,}  written {counts.written:,}  "
                f"| /s: market {market_now:,.0f}, put {put_now:,.0f}, written "
                f"{consumer_rate:,.0f} on average{share}  "
                f"| behind: ingester {max(0, counts.generated - counts.put):,}, "
                f"consumer {consumer_behind:,} = {behind_seconds:.1f} s of market")
        if self.market_stopped is not None and consumer_behind and consumer_rate:
            text += f", ~{consumer_behind / consumer_rate:.0f} s to go"
        return text

    def summary(self) -> dict[str, Any]:
        """Rates achieved (each part's count over the time from the market's start until the
        part's count last grew), the peak backlogs, and the time taken to catch up."""
        last = self.last
        if last is None:
            return {}
        began = self.started if self.market_began is None else self.market_began
        rates = {}
        for name in RATE_PARTS:
            seconds = self.grew_at.get(name, began) - began
            if name == "generated" and last.market_seconds:
                seconds = last.market_seconds
            rates[name] = round(getattr(last, name) / seconds, 1) if seconds > 0 else None
        stopped = self.market_stopped
        caught_up = max(self.grew_at.get("written", 0.0), self.grew_at.get("archived", 0.0))
        return {
            "rates_per_second": rates,
            "peak_backlog": {
                "ingester_events": self.peak_ingester_backlog,
                "consumer_events": self.peak_consumer_backlog,
                "consumer_seconds_of_market": round(self.peak_consumer_backlog_seconds, 1)},
            "catch_up_seconds": (round(max(0.0, caught_up - stopped), 1)
                                 if stopped is not None else None),
        }


def _family(partition: str) -> str:
    if hot_table.is_event_partition(partition):
        return "event"
    return "latest" if partition.startswith(hot_table.LATEST_PREFIX) else "candle"


def _kill_if_running(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()


def _decimal_text(value: Any) -> str | list[Any]:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):  # a DynamoDB set (a candle's event times)
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _event_items_at(events: list[SentEvent], resolution: int) -> list[tuple[str, int]]:
    """The (symbol, event time) of each event item the consumer keeps at ``resolution``
    seconds: per item key (`hot_table.event_item_key`), the newest of its events."""
    newest: dict[tuple[str, str], tuple[str, int]] = {}
    for event in events:
        for record in normalize_message(event.payload, received_at=event.event_time).records:
            key = hot_table.event_item_key(record, resolution)
            if key not in newest or record.event_time > newest[key][1]:
                newest[key] = (record.symbol, record.event_time)
    return sorted(newest.values())


def _keys_of_lines(lines: list[bytes]) -> list[tuple[str, int]]:
    keys = []
    for line in lines:
        record = json.loads(line)
        keys.append((record["symbol"], record["event_time"]))
    return keys


def _parquet_keys(directory: Path) -> list[tuple[str, int]]:
    if not directory.exists():
        return []
    table = ds.dataset(directory, format="parquet", partitioning="hive").to_table(
        columns=["symbol", "event_time"])
    millis = table["event_time"].cast(pa.int64()).to_pylist()  # timestamp[ms]: exact
    return list(zip(table["symbol"].cast(pa.string()).to_pylist(), millis))


def _derived_counts(directory: Path) -> tuple[int, int]:
    """A derived curated table's rows and the events they count (its ``events`` column)."""
    if not directory.exists():
        return 0, 0
    events = ds.dataset(directory, format="parquet", partitioning="hive").to_table(
        columns=["events"])["events"]
    return len(events), int(pa.compute.sum(events).as_py() or 0)


def _percentile(values: list[int], percent: int) -> int | None:
    if not values:
        return None
    return values[min(len(values) - 1, math.ceil(percent / 100 * len(values)) - 1)]
