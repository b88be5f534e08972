"""The ingest service: connections -> frames -> delivery, with metrics, a status file and a
clean stop."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from botocore.exceptions import NoCredentialsError

from .backoff import AttemptBudget
from .batching import SharedDeduplicator
from .config import ConfigError, IngestConfig
from .connection import ConnectionSupervisor, split_streams, stream_url
from .delivery import Delivery
from .kinesis_sink import CLIENT_CONFIG, KinesisSink
from .metric_names import SERVICE
from .observability import IngestMetrics
from .spool import Spool
from .status import IngestStatus, write_status

HEARTBEAT_SECONDS = 5.0


class IngestService:
    def __init__(self, config: IngestConfig, *, kinesis_client: Any | None = None) -> None:
        self.config = config
        self.logger = Logger(service=SERVICE, level=config.log_level)
        # The connection, delivery and spool modules log through the standard library: give
        # them the same JSON output.
        copy_config_to_registered_loggers(source_logger=self.logger, include={"ingest"})
        self.metrics = IngestMetrics(self.logger)
        self._kinesis = kinesis_client or boto3.client("kinesis", config=CLIENT_CONFIG)
        self._stop = threading.Event()

    def request_stop(self) -> None:
        """Ask `run` to stop (safe from a signal handler)."""
        self._stop.set()

    def run(self) -> int:
        config = self.config
        self._check_stream()
        spool = Spool(config.spool_dir)
        if len(spool):
            self.logger.warning("replaying the spool of a previous run",
                                extra={"events": len(spool), "spool_dir": str(spool.directory)})
        sink = KinesisSink(config.kinesis_stream_name, self._kinesis)
        delivery = Delivery(sink, spool, self.metrics).start()
        deduplicator = SharedDeduplicator(delivery, self.metrics)
        budget = AttemptBudget()
        groups = split_streams(config.ws_url, config.streams)
        supervisors = [
            ConnectionSupervisor(
                f"{index}", stream_url(config.ws_url, group),
                handler_factory=deduplicator.batcher, observer=self.metrics, budget=budget,
                data_timeout=config.data_timeout, rotate_after=config.rotate_after).start()
            for index, group in enumerate(groups, 1)
        ]
        self.logger.info("ingest started", extra={
            "streams": len(config.streams), "connections": len(supervisors),
            "kinesis_stream": config.kinesis_stream_name, "ws_url": config.ws_url})

        next_metrics = time.monotonic() + config.metrics_interval
        while not self._stop.wait(min(HEARTBEAT_SECONDS, config.metrics_interval)):
            self._write_status(supervisors, delivery.backlog)
            if time.monotonic() >= next_metrics:
                self.metrics.flush(delivery.backlog)
                next_metrics += config.metrics_interval

        self.logger.info("stopping: closing connections, then flushing")
        for supervisor in supervisors:  # all at once: the stop deadline is shared
            supervisor.request_stop()
        for supervisor in supervisors:
            supervisor.stop()
        left = delivery.stop(config.flush_timeout)
        self.metrics.flush(left)
        if left:
            self.logger.error("Kinesis did not take everything before the stop deadline: "
                              "events left in the spool, replayed by the next run",
                              extra={"events": left, "spool_dir": str(config.spool_dir)})
        # The final account, for whoever watches the run (the local mode, the benchmarks).
        final = self._write_status(supervisors, left, stopped=True)
        self.logger.info("ingest stopped", extra={"totals": final.totals, "left_in_spool": left})
        return 0

    def _check_stream(self) -> None:
        # Missing credentials or a wrong stream name would otherwise fill the spool for ever.
        # ListShards is in the producer's grant (CDK grant_write); the request is signed before
        # it is sent, so no credentials fails at once, whatever the endpoint. An unreachable
        # endpoint is an outage, not a configuration error, and delivery rides it out.
        try:
            self._kinesis.list_shards(StreamName=self.config.kinesis_stream_name, MaxResults=1)
        except NoCredentialsError:
            raise ConfigError("no AWS credentials: set AWS_ACCESS_KEY_ID and "
                              "AWS_SECRET_ACCESS_KEY, a profile (AWS_PROFILE), or a task "
                              "role") from None
        except self._kinesis.exceptions.ResourceNotFoundException:
            raise ConfigError(f"KINESIS_STREAM_NAME={self.config.kinesis_stream_name!r}: "
                              "no such Kinesis stream") from None
        except Exception as error:
            self.logger.warning("cannot reach Kinesis at start; buffering until it answers",
                                extra={"error": repr(error)})

    def _write_status(self, supervisors: list[ConnectionSupervisor], backlog: int, *,
                      stopped: bool = False) -> IngestStatus:
        """The status file (``HEALTH_FILE``): its age is the health check's heartbeat."""
        status = IngestStatus(
            connections=len(supervisors), connected=sum(s.connected for s in supervisors),
            backlog=backlog, totals=self.metrics.totals, stopped=stopped)
        write_status(self.config.health_file, status)
        return status
