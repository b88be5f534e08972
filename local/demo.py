"""The whole pipeline on this machine, offline (DESIGN §4): ``make demo`` / ``python -m local``.

Parts: moto's server (S3, Kinesis, DynamoDB, Secrets Manager, Glue catalog) set up with the
stack's names for environment ``local``; the local Binance server replaying generated market
data; the real ingester (``python -m ingest``) as a child process; a Firehose-like drain; an
event-source-mapping-like poller calling the real consumer handler; at the end, the real Glue
job over the hours produced. From the start, a web server on loopback serves the built price
page and the real read API handler (called in process, as the function URL would). Then a
summary (``DIR/summary.json``), the data itself (raw objects, Parquet files, DynamoDB items, the
events sent) and the report (``DIR/report.html``: the same page, rendered from the run's data).
After the run the page stays up until Ctrl+C when started from a terminal (``--linger``).
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
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from boto3.dynamodb.types import TypeDeserializer

from glue_jobs import raw_to_parquet as job
from lambdas.api.settings import environment as api_environment
from lambdas.consumer.observability import NAMESPACE
from lambdas.consumer.settings import environment as consumer_environment
from market_sim import POPULAR, MarketDataGenerator
from market_sim.server import BinanceServer
from miniticker import InvalidMiniTicker, hot_table, layout, stream_name_for
from miniticker.validate import check_symbol
from stacks.settings import local_settings

from . import output
from .aws import REGION, LocalAws
from .event_source import EventSourcePoller
from .firehose import FirehoseDrain
from .function_url import FunctionUrl
from .report import write_report
from .web_server import DEFAULT_PORT, PORT_OPTION, PortBusy, WebServer

REPO = Path(__file__).resolve().parents[1]
WEB_ROOT = REPO / "web" / "dist"  # what `make web` builds
LIVE_URL = "wss://data-stream.binance.vision"
SETTLE_SECONDS = 2.0
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
    parser.add_argument("--symbols", default=",".join(POPULAR),
                        help="comma-separated symbols (default: ten popular USDT pairs)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="events per second per symbol (Binance's pace is 1)")
    parser.add_argument("--source", choices=("synthetic", "binance"), default="synthetic",
                        help="generated data, or Binance's live feed (needs the internet)")
    parser.add_argument("--out", type=Path, default=Path("demo-out"),
                        help="where the summary, report and data go (emptied first)")
    parser.add_argument("--seed", type=int, default=1)
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
    args.symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    if not args.symbols:
        parser.error("--symbols names no symbol")
    for symbol in args.symbols:
        try:
            check_symbol(symbol, symbol)
        except InvalidMiniTicker as error:
            parser.error(f"--symbols: {error.reason}")
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
        self.settings = local_settings(tuple(stream_name_for(s) for s in args.symbols))
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
            started = time.monotonic()
            self._progress(started, server, drain, poller, ingester)
            print("\nstopping: the market, then the ingester (it flushes), then the runners",
                  file=self.console, flush=True)
            if server is not None:
                server.stall(3600)
                # Frames already sent are still in the socket: let the ingester read them
                # before it is told to stop reading (loopback takes milliseconds).
                time.sleep(SETTLE_SECONDS)
            self._stop_ingester(ingester)
            for part in (drain, poller):
                part.stop()
                part.join(120)
                if part.is_alive() or part.error:
                    raise PartFailed(f"{part.name} did not finish: {part.error!r}")
            glue = self._part("Glue job raw_to_parquet", lambda: self._convert(aws))
            summary = self._summary(aws, server, poller=poller, drain=drain, glue=glue,
                                    seconds=time.monotonic() - started)
            # While moto is up: the report is the page over what the API answers now.
            report = self._part("report", lambda: write_report(self.out, web.api, WEB_ROOT))
            print(f"\nsummary: {self.out / 'summary.json'}\nreport:  {report}",
                  file=self.console, flush=True)
            self._linger(web)
        return summary

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
        generator = MarketDataGenerator(self.args.symbols, seed=self.args.seed,
                                        start_ms=int(time.time() * 1000),
                                        interval_ms=interval_ms, jitter_ms=0)
        server = self._part("local Binance server", lambda: BinanceServer(
            generator, tick_seconds=interval_ms / 1000, wait_for_client=True).start())
        return server, server.url

    def _start_ingester(self, aws: LocalAws, url: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, **aws.environment,
               "BINANCE_WS_URL": url,
               "BINANCE_SECRET_ID": self.settings.secret_name,
               "KINESIS_STREAM_NAME": self.settings.stream_name,
               "SPOOL_DIR": str(self.out / "spool"),
               "HEALTH_FILE": str(self.out / "heartbeat.json"),
               "METRICS_INTERVAL_SECONDS": "5",
               "FLUSH_TIMEOUT_SECONDS": "20"}
        with (self.out / "ingest.log").open("ab") as log:
            return subprocess.Popen([sys.executable, "-m", "ingest"], cwd=REPO, env=env,
                                    stdout=log, stderr=subprocess.STDOUT)

    def _start_runners(self, aws: LocalAws) -> tuple[FirehoseDrain, EventSourcePoller]:
        settings = self.settings
        os.environ.update({**consumer_environment(settings.table_name, settings.retention_days,
                                                  settings.price_metrics),
                           **FUNCTION_ENVIRONMENT})
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
            # The stack's window, capped at a second so a run of minutes shows items promptly.
            batching_window=min(settings.consumer_batching_window_seconds, 1),
            retry_attempts=settings.consumer_retry_attempts,
            output=self.consumer_log)
        drain.start()
        poller.start()
        return drain, poller

    def _progress(self, started: float, server: BinanceServer | None, drain: FirehoseDrain,
                  poller: EventSourcePoller, ingester: subprocess.Popen[bytes]) -> None:
        last: tuple[float, int, int, int] | None = None
        deadline = started + self.args.duration
        while time.monotonic() < deadline and not self.interrupted:
            time.sleep(1.0)
            if ingester.poll() is not None:
                raise PartFailed(f"the ingester exited with status {ingester.returncode} "
                                 f"(see {self.out / 'ingest.log'})")
            for part in (drain, poller):
                if part.error:
                    raise PartFailed(f"{part.name} failed: {part.error!r}")
            totals = self._ingest_totals()
            now = time.monotonic()
            generated = len(server.sent) if server else 0
            put, written = int(totals.get("EventsPut", 0)), poller.records_done
            rates = ""
            if last:
                span = now - last[0]
                rates = (f"  ({(generated - last[1]) / span:,.0f} generated, "
                         f"{(put - last[2]) / span:,.0f} put, "
                         f"{(written - last[3]) / span:,.0f} written /s)")
            print(f"{now - started:5.0f}s  generated {generated:,}  "
                  f"received {int(totals.get('EventsReceived', 0)):,}  put {put:,}  "
                  f"written {written:,}{rates}", file=self.console, flush=True)
            last = (now, generated, put, written)

    def _ingest_totals(self) -> dict[str, float]:
        try:
            totals: dict[str, float] = json.loads(
                (self.out / "heartbeat.json").read_text())["totals"]
            return totals
        except (OSError, ValueError, KeyError):
            return {}

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
        hours = sorted({job.hour_of_raw_key(key, layout.RAW_PREFIX)
                        for key in job.list_keys(s3, aws.bucket, layout.RAW_PREFIX)})
        if not hours:
            return {"rows_written": 0, "duplicates": 0, "quarantined": 0, "hours": []}
        end = hours[-1] + timedelta(hours=1)
        settings = job.parse_settings([
            "--bucket", aws.bucket, "--database", self.settings.database_name,
            "--start", hours[0].strftime(job.HOUR_FORMAT), "--end", end.strftime(job.HOUR_FORMAT)])
        summary: dict[str, Any] = job.run(settings, s3=s3, glue=aws.client("glue"))
        return summary

    # --- what the run produced ----------------------------------------------------------------

    def _summary(self, aws: LocalAws, server: BinanceServer | None, *,
                 poller: EventSourcePoller, drain: FirehoseDrain, glue: dict[str, Any],
                 seconds: float) -> dict[str, Any]:
        sent = self._export_sent(server)
        raw_lines = [line for body in self._export(aws, layout.RAW_PREFIX)
                     for line in gzip.decompress(body).splitlines()]
        parquet_files = len(self._export(aws, layout.CURATED_PREFIX))
        items, latest, candles = self._export_items(aws)
        totals = self._ingest_totals() | self._final_ingest_totals()
        latencies = sorted(poller.latencies_ms)
        raw_keys = _keys_of_lines(raw_lines)
        item_keys = [(i["symbol"], int(i["event_time"])) for i in items]
        parquet_keys = _parquet_keys(self.out / layout.CURATED_PREFIX)
        sent_keys = sorted(sent)
        retention_ms = self.settings.retention_days * 86_400_000
        now_ms = int(time.time() * 1000)
        within_retention = sorted(k for k in sent_keys if k[1] >= now_ms - retention_ms)
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
                 and sorted(item_keys) == within_retention
                 and latest_times == newest and candle_counts == sent_minutes)
        summary = {
            "duration_seconds": round(seconds, 1),
            "symbols": self.args.symbols,
            "source": self.args.source,
            "events_generated": len(sent_keys) if server else None,
            "events_received_by_ingester": int(totals.get("EventsReceived", 0)),
            "events_put_to_kinesis": int(totals.get("EventsPut", 0)),
            "events_in_raw_s3": len(raw_keys),
            "raw_objects": drain.objects,
            "items_in_dynamodb": len(item_keys),
            "latest_items": len(latest),
            "candle_items": len(candles),
            "events_in_candles": sum(candle_counts.values()),
            "rows_in_parquet": len(parquet_keys),
            "parquet_files": parquet_files,
            "duplicates_removed": glue.get("duplicates", 0),
            "quarantined": glue.get("quarantined", 0),
            "consumer_invocations": poller.invocations,
            "records_set_aside_by_consumer": len(poller.set_aside),
            "latency_ms": {f"p{p}": _percentile(latencies, p) for p in (50, 95, 99)},
            "stopped_early": self.interrupted,
            "exact": exact,
            # Where the parts listened: free again once the run is over.
            "endpoints": {name: self.endpoints[name] for name in ("aws", "page", "binance")},
        }
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(json.dumps(summary, indent=2), file=self.console)
        return summary

    def _final_ingest_totals(self) -> dict[str, float]:
        """The totals the ingester logged as it stopped (newer than its last heartbeat)."""
        for line in reversed((self.out / "ingest.log").read_text().splitlines()):
            if line.startswith("{") and '"ingest stopped"' in line:
                totals: dict[str, float] = json.loads(line).get("totals", {})
                return totals
        return {}

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
        for key in job.list_keys(s3, aws.bucket, prefix):
            body: bytes = s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read()
            target = self.out / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
            bodies.append(body)
        return bodies

    def _export_items(self, aws: LocalAws) -> tuple[list[dict[str, Any]], ...]:
        """The table's event, latest and candle items (miniticker.hot_table), each family in a
        file of its own; only event items are one per record, so only they are counted."""
        deserialize = TypeDeserializer().deserialize
        dynamodb = aws.client("dynamodb")
        families: dict[str, list[dict[str, Any]]] = {name: [] for name in ITEM_FILES}
        for page in dynamodb.get_paginator("scan").paginate(TableName=self.settings.table_name):
            for raw in page["Items"]:
                item = {k: deserialize(v) for k, v in raw.items()}
                families[_family(item[hot_table.PARTITION_KEY])].append(item)
        for name, items in families.items():
            with (self.out / ITEM_FILES[name]).open("w") as out:
                for item in sorted(items, key=lambda i: (i[hot_table.PARTITION_KEY],
                                                         i[hot_table.SORT_KEY])):
                    out.write(json.dumps(item, default=_decimal_text) + "\n")
        return families["event"], families["latest"], families["candle"]


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


def _percentile(values: list[int], percent: int) -> int | None:
    if not values:
        return None
    return values[min(len(values) - 1, math.ceil(percent / 100 * len(values)) - 1)]
