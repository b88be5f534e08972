"""Dashboards and alarms for operators (docs/architecture.md §6): the monitoring construct receives
the constructs it watches and reads their resources' metrics; it changes none of them."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from ingest.metric_names import SERVICE as INGEST_SERVICE
from ingest.metric_names import MetricName as IngestMetric
from lambdas.api.observability import SERVICE as API_SERVICE
from lambdas.api.observability import MetricName as ApiMetric
from lambdas.consumer.metric_names import SERVICE as CONSUMER_SERVICE
from lambdas.consumer.metric_names import MetricName as ConsumerMetric
from miniticker import ALL_MARKET_STREAM, symbol_of_stream
from miniticker.metrics import NAMESPACE

from .capacity import estimate_load
from .catalog_etl import CatalogAndEtl
from .consumer import Consumer
from .ingest_service import IngestService
from .read_api import ReadApi
from .storage import Storage
from .stream import TickerStream
from .web import WebSite

MINUTE = Duration.minutes(1)
ITERATOR_AGE_ALARM_MS = 60_000  # the consumer a minute behind the stream
# IngestBacklogGrowing: the ingester's Backlog (events accepted, not yet put; published once a
# minute) rose from each minute to the next for BACKLOG_GROWING_PERIODS minutes, while above
# BACKLOG_FLOOR_SECONDS of the configured streams' events.
#: A throttling burst or a short outage is put away by the shard's spare capacity and the
#: backlog falls again within minutes; rising five minutes running means the stream takes less
#: than the feed brings.
BACKLOG_GROWING_PERIODS = 5
#: The ingester normally holds only what it is sending, a fraction of a second of events; a
#: minute waiting leaves the page a minute behind the market. A floor in seconds of the stream
#: list's own rate is as sensitive at ten symbols as at the whole market.
BACKLOG_FLOOR_SECONDS = 60
#: Failed read API requests in five minutes before the alarm: a few retried 503s are not worth
#: a page, a steady failure is.
API_FAILURES_ALARM = 10
WIDTH = 12  # half of a dashboard row
#: Symbols charted one by one on the price dashboard; more are charted by one search widget.
#: A graph per symbol of a long stream list would be unreadable, and would take the template
#: past CloudFormation's size limit and the dashboard past CloudWatch's widget limit.
MAX_PRICE_GRAPHS = 30
CLOUDFRONT_METRICS_REGION = "us-east-1"


class Monitoring(Construct):
    """An operations dashboard, a price dashboard, and alarms to an encrypted SNS topic, over the
    constructs it is given (their public attributes); the read API and the page are optional,
    as the web layer is."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        stream: TickerStream,
        ingest_service: IngestService,
        consumer: Consumer,
        storage: Storage,
        etl: CatalogAndEtl,
        streams: Sequence[str],
        no_data_minutes: int,
        alarm_email: str | None,
        api: ReadApi | None = None,
        site: WebSite | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # Alarms and EventBridge publish to an encrypted topic only with a key that lets them.
        key = kms.Key(self, "AlarmKey", enable_key_rotation=True,
                      description="crypto-live alarm topic")
        for publisher in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
            key.grant_encrypt_decrypt(iam.ServicePrincipal(publisher))
        self.topic = sns.Topic(self, "Alarms", display_name=f"{name_prefix} alarms",
                               master_key=key, enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

        symbols = [symbol_of_stream(s) for s in streams if s != ALL_MARKET_STREAM]
        events_per_second = estimate_load(streams).events
        table, function, failures = storage.table, consumer.function, consumer.failed_batches
        archive = stream.archive
        read_api = api.function if api is not None else None
        ingest = {name: _ingest_metric(name) for name in (
            IngestMetric.EVENTS_RECEIVED, IngestMetric.EVENTS_PUT, IngestMetric.PUT_FAILURES,
            IngestMetric.EVENTS_SPILLED, IngestMetric.RECONNECTS, IngestMetric.GAP_SECONDS,
            IngestMetric.MALFORMED_FRAMES, IngestMetric.RECORDS_PUT,
            IngestMetric.THROTTLED_RECORDS)}
        backlog = _ingest_metric(IngestMetric.BACKLOG, statistic="Maximum")
        running_tasks = cw.Metric(
            namespace="ECS/ContainerInsights", metric_name="RunningTaskCount",
            dimensions_map={"ClusterName": ingest_service.cluster.cluster_name,
                            "ServiceName": ingest_service.service.service_name},
            statistic="Minimum", period=MINUTE)
        iterator_age = function.metric("IteratorAge", statistic="Maximum", period=MINUTE)
        freshness = archive.metric("DeliveryToS3.DataFreshness", statistic="Maximum",
                                   period=Duration.minutes(5))
        dlq_depth = failures.metric_approximate_number_of_messages_visible(
            statistic="Maximum", period=MINUTE)
        throttles = cw.MathExpression(
            expression="reads + writes", period=MINUTE, label="throttle events",
            using_metrics={
                "reads": table.metric("ReadThrottleEvents", statistic="Sum", period=MINUTE),
                "writes": table.metric("WriteThrottleEvents", statistic="Sum", period=MINUTE)})
        glue_runs = {state: self._glue_outcome([job.ref for job in etl.jobs], state)
                     for state in ("SUCCEEDED", "FAILED", "TIMEOUT")}

        self.alarms = [
            self._alarm("ConsumerBehind", iterator_age, ITERATOR_AGE_ALARM_MS, periods=5,
                        description="The consumer Lambda is more than a minute behind the stream"),
            self._alarm("ArchiveStale", freshness, 3 * stream.buffer_interval.to_seconds() + 300,
                        periods=1,
                        description="Firehose has not delivered the oldest record to S3"),
            self._alarm("ConsumerErrors", function.metric_errors(period=Duration.minutes(5)), 0,
                        periods=1, description="The consumer Lambda failed an invocation"),
            self._alarm("FailedBatches", dlq_depth, 0, periods=1,
                        description="Records the consumer gave up on wait in the queue"),
            self._alarm("TableThrottled", throttles, 0, periods=5,
                        description="DynamoDB throttled reads or writes"),
            self._alarm("NoEventsPut", ingest[IngestMetric.EVENTS_PUT].with_(
                            period=Duration.minutes(no_data_minutes)), 1, periods=1,
                        comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                        missing=cw.TreatMissingData.BREACHING,
                        description=f"No event reached Kinesis for {no_data_minutes} minutes"),
            self._backlog_alarm(backlog, BACKLOG_FLOOR_SECONDS * events_per_second),
            self._alarm("IngestNotRunning", running_tasks, 1, periods=3,
                        comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                        missing=cw.TreatMissingData.BREACHING,
                        description="The ingest task is not running"),
            self._alarm("EtlFailed", cw.MathExpression(
                expression="failed + timeout", period=Duration.hours(1), label="failed runs",
                using_metrics={"failed": glue_runs["FAILED"], "timeout": glue_runs["TIMEOUT"]}),
                0, periods=1, description="A Glue run (raw_to_parquet or compact_day) failed or "
                                           "timed out"),
        ]

        if read_api is not None:
            self.alarms.append(self._api_alarm(read_api))

        self.operations = cw.Dashboard(self, "Operations",
                                       dashboard_name=f"{name_prefix}-operations")
        self.operations.add_widgets(cw.AlarmStatusWidget(
            title="Alarms", alarms=self.alarms, width=24, height=3))
        self.operations.add_widgets(
            _graph("Ingest: events per minute", [ingest[IngestMetric.EVENTS_RECEIVED],
                                                 ingest[IngestMetric.EVENTS_PUT],
                                                 ingest[IngestMetric.EVENTS_SPILLED],
                                                 ingest[IngestMetric.PUT_FAILURES]]),
            _graph("Ingest: connection health", [ingest[IngestMetric.RECONNECTS],
                                                 ingest[IngestMetric.GAP_SECONDS],
                                                 ingest[IngestMetric.MALFORMED_FRAMES]],
                   right=[running_tasks]))
        self.operations.add_widgets(
            _graph("Ingest to Kinesis: records put, refused, throttled; backlog (events)",
                   [ingest[IngestMetric.RECORDS_PUT], ingest[IngestMetric.PUT_FAILURES],
                    ingest[IngestMetric.THROTTLED_RECORDS]], right=[backlog]),
            _graph("Ingest lag, ms: feed (received_at - event_time), put (arrival to ack)",
                   [_ingest_metric(name, statistic=p)
                    for name in (IngestMetric.LAG, IngestMetric.PUT_LAG)
                    for p in ("p50", "p99")]))
        self.operations.add_widgets(
            _graph("Stream: records in, consumer iterator age",
                   [stream.stream.metric_incoming_records(period=MINUTE, statistic="Sum")],
                   right=[stream.stream.metric_get_records_iterator_age_milliseconds(
                       period=MINUTE, statistic="Maximum"), iterator_age]))
        self.operations.add_widgets(
            _graph("Firehose: freshness (s) and delivery success",
                   [freshness], right=[archive.metric("DeliveryToS3.Success",
                                                      statistic="Average")]),
            _graph("Consumer Lambda", [function.metric_invocations(period=MINUTE),
                                       function.metric_errors(period=MINUTE)],
                   right=[function.metric_duration(period=MINUTE, statistic="p99")]))
        self.operations.add_widgets(
            _graph("Consumer: records, events and latency",
                   [_consumer_metric(name) for name in (
                       ConsumerMetric.RECORDS_IN, ConsumerMetric.EVENTS_IN,
                       ConsumerMetric.ITEMS_WRITTEN, ConsumerMetric.INVALID_LINES,
                       ConsumerMetric.WRITE_FAILURES, ConsumerMetric.RECORDS_FAILED)],
                   right=[_consumer_metric(ConsumerMetric.LATENCY, statistic="p99")]),
            _graph("DynamoDB: throttles and write capacity", [throttles],
                   right=[table.metric_consumed_write_capacity_units(period=MINUTE)]))
        self.operations.add_widgets(
            _graph("Glue runs: raw_to_parquet, compact_day", list(glue_runs.values()),
                   period=Duration.hours(1)),
            _graph("Failed batches waiting (DLQ)", [dlq_depth]))

        if read_api is not None:
            self.operations.add_widgets(
                _graph("Read API: requests and errors",
                       [_api_metric(name) for name in (
                           ApiMetric.LATEST_REQUESTS, ApiMetric.HISTORY_REQUESTS,
                           ApiMetric.CLIENT_ERRORS, ApiMetric.SERVER_ERRORS)]),
                _graph("Read API Lambda", [read_api.metric_invocations(period=MINUTE),
                                           read_api.metric_errors(period=MINUTE),
                                           read_api.metric_throttles(period=MINUTE)],
                       right=[read_api.metric_duration(period=MINUTE, statistic="p99")]))
        if site is not None:
            distribution = site.distribution
            # CloudFront publishes its metrics in us-east-1 only, whatever the stack's region
            # (a dashboard shows them from there; an alarm could not watch them from here).
            region, period = CLOUDFRONT_METRICS_REGION, Duration.minutes(5)
            self.operations.add_widgets(_graph(
                "Page and API at the edge: requests, error rates (%)",
                [distribution.metric_requests(statistic="Sum", region=region, period=period)],
                right=[distribution.metric4xx_error_rate(region=region, period=period),
                       distribution.metric5xx_error_rate(region=region, period=period)],
                width=24))

        self.prices = cw.Dashboard(self, "Prices", dashboard_name=f"{name_prefix}-prices")
        price_widgets: list[cw.IWidget] = [
            _graph(f"{symbol} close", [_consumer_metric(
                ConsumerMetric.CLOSE_PRICE, statistic="Average", symbol=symbol)],
                width=8, legend=False)
            for symbol in symbols[:MAX_PRICE_GRAPHS]]
        if ALL_MARKET_STREAM in streams or len(symbols) > MAX_PRICE_GRAPHS:
            # Too many symbols to list: one search over all of them.
            price_widgets.append(_graph("Every symbol's close (search)", [cw.MathExpression(
                expression=(f"SEARCH('{{{NAMESPACE},service,symbol}} "
                            f"MetricName=\"{ConsumerMetric.CLOSE_PRICE}\"', 'Average', 60)"),
                label="", period=MINUTE)], width=24))
        for start in range(0, len(price_widgets), 3):
            self.prices.add_widgets(*price_widgets[start:start + 3])

    def _backlog_alarm(self, backlog: cw.Metric, floor: int) -> cw.Alarm:
        """The ingester falls further behind: its backlog rose from each minute to the next for
        `BACKLOG_GROWING_PERIODS` minutes while above ``floor`` events. A minute without a
        value (the ingester stopped or restarting) is no evidence of growth: not breaching;
        IngestNotRunning and NoEventsPut report a silent ingester."""
        growing = cw.MathExpression(
            expression=f"IF(DIFF(backlog) > 0 AND backlog > {floor}, 1, 0)",
            period=MINUTE, label="backlog rose, above the floor",
            using_metrics={"backlog": backlog})
        return self._alarm(
            "IngestBacklogGrowing", growing, 1, periods=BACKLOG_GROWING_PERIODS,
            comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            description=f"The ingester's backlog grew for {BACKLOG_GROWING_PERIODS} minutes "
                        f"running, above {floor:,} events ({BACKLOG_FLOOR_SECONDS} s of the "
                        "configured streams): Kinesis takes less than the feed brings")

    def _api_alarm(self, read_api: lambda_.IFunction) -> cw.Alarm:
        """Viewers get errors: the function failed, was throttled (its reserved concurrency
        used up), or answered 5xx (DynamoDB unavailable, a bug)."""
        period = Duration.minutes(5)
        failing = cw.MathExpression(
            expression="errors + throttles + answered", period=period, label="failed requests",
            using_metrics={"errors": read_api.metric_errors(period=period),
                           "throttles": read_api.metric_throttles(period=period),
                           "answered": _api_metric(ApiMetric.SERVER_ERRORS).with_(
                               period=period)})
        return self._alarm("ApiFailing", failing, API_FAILURES_ALARM, periods=1,
                           description="The read API failed viewers' requests (errors, "
                                       "throttles or 5xx answers) in the last 5 minutes")

    def _alarm(self, name: str, metric: cw.IMetric, threshold: float, *, periods: int,
               description: str,
               comparison: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
               missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING) -> cw.Alarm:
        alarm = cw.Alarm(self, name, metric=metric, threshold=threshold,
                         evaluation_periods=periods, comparison_operator=comparison,
                         treat_missing_data=missing, alarm_description=description)
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        alarm.add_ok_action(cw_actions.SnsAction(self.topic))
        return alarm

    def _glue_outcome(self, job_names: Sequence[str], state: str) -> cw.Metric:
        """Runs of the jobs that ended in ``state``, counted by an EventBridge rule: Glue
        publishes no run metrics for Python shell jobs."""
        rule = events.Rule(self, f"Glue{state.title()}", description=f"Glue jobs {state}",
                           event_pattern=events.EventPattern(
                               source=["aws.glue"], detail_type=["Glue Job State Change"],
                               detail={"jobName": list(job_names), "state": [state]}))
        if state != "SUCCEEDED":
            rule.add_target(targets.SnsTopic(self.topic))
        return cw.Metric(namespace="AWS/Events", metric_name="TriggeredRules",
                         dimensions_map={"RuleName": rule.rule_name}, statistic="Sum",
                         label=state.lower(), period=Duration.hours(1))


def _ingest_metric(name: str, *, statistic: str = "Sum") -> cw.Metric:
    return cw.Metric(namespace=NAMESPACE, metric_name=name, statistic=statistic,
                     dimensions_map={"service": INGEST_SERVICE}, period=MINUTE)


def _api_metric(name: str) -> cw.Metric:
    return cw.Metric(namespace=NAMESPACE, metric_name=name, statistic="Sum",
                     dimensions_map={"service": API_SERVICE}, period=MINUTE)


def _consumer_metric(name: str, *, statistic: str = "Sum", symbol: str | None = None
                     ) -> cw.Metric:
    dimensions = {"service": CONSUMER_SERVICE, **({"symbol": symbol} if symbol else {})}
    return cw.Metric(namespace=NAMESPACE, metric_name=name, statistic=statistic,
                     dimensions_map=dimensions, period=MINUTE)


def _graph(title: str, left: Sequence[cw.IMetric], *, right: Sequence[cw.IMetric] = (),
           width: int = WIDTH, period: Duration | None = None, legend: bool = True
           ) -> cw.GraphWidget:
    return cw.GraphWidget(
        title=title, left=list(left), right=list(right), width=width, height=6,
        period=period,
        legend_position=cw.LegendPosition.BOTTOM if legend else cw.LegendPosition.HIDDEN)
