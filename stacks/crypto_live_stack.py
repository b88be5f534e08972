"""One stack per environment; it wires the constructs and holds no resource logic of its own:
each construct grants on its own resources through its ``grant_*`` methods, called here, and
`Monitoring` receives the constructs it watches."""

from __future__ import annotations

from typing import Any, NamedTuple

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Size, Stack
from constructs import Construct

from .catalog_etl import CatalogAndEtl
from .consumer import Consumer
from .ingest_service import IngestService
from .monitoring import Monitoring
from .read_api import ReadApi
from .settings import Settings
from .storage import Storage
from .stream import TickerStream
from .stream_config import StreamConfig
from .web import WebSite


class CryptoLiveStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = (RemovalPolicy.DESTROY if settings.removal_policy == "destroy"
                   else RemovalPolicy.RETAIN)
        prefix = settings.stack_name  # crypto-live-<env>: names of two environments never meet

        stream_config = StreamConfig(
            self, "StreamConfig", secret_name=settings.secret_name, streams=settings.streams
        )
        storage = Storage(
            self, "Storage",
            table_name=settings.table_name,
            removal_policy=removal,
            raw_transition_days=settings.raw_transition_days,
            raw_expiration_days=settings.raw_expiration_days,
            point_in_time_recovery=settings.point_in_time_recovery,
        )
        stream = TickerStream(
            self, "Stream",
            stream_name=settings.stream_name,
            on_demand=settings.stream_mode == "on-demand",
            shard_count=settings.shard_count,
            bucket=storage.bucket,
            buffer_size=Size.mebibytes(settings.firehose_buffer_mb),
            buffer_interval=Duration.seconds(settings.firehose_buffer_seconds),
            removal_policy=removal,
        )
        consumer = Consumer(
            self, "Consumer",
            stream=stream.stream,
            table_name=storage.table.table_name,
            retention_days=settings.retention_days,
            price_metrics=settings.price_metrics,
            resolution_seconds=settings.hot_table_resolution_seconds,
            batch_size=settings.consumer_batch_size,
            batching_window=Duration.seconds(settings.consumer_batching_window_seconds),
            parallelization_factor=settings.consumer_parallelization_factor,
            retry_attempts=settings.consumer_retry_attempts,
            max_record_age=Duration.seconds(settings.consumer_max_record_age_seconds),
            removal_policy=removal,
        )
        ingest = IngestService(
            self, "Ingest",
            stream_name=stream.stream.stream_name,
            secret_arn=stream_config.secret.secret_arn,
            removal_policy=removal,
        )
        etl = CatalogAndEtl(
            self, "CatalogAndEtl",
            name_prefix=prefix,
            database_name=settings.database_name,
            bucket=storage.bucket,
            access_logs=storage.access_logs,
            schedule=settings.etl_schedule,
            removal_policy=removal,
        )

        # Grants at the wiring site: each role gets the actions it uses on its resources only.
        stream.grant_write(ingest.task_role)
        stream_config.grant_read(ingest.task_role)
        storage.grant_item_writes(consumer.function)
        storage.grant_raw_read(etl.job_role)  # the hourly job reads raw/ too
        storage.grant_curation(etl.job_role, quarantine=True)
        storage.grant_curation(etl.compaction_role)

        web = self._web(settings, storage, removal) if settings.web else None
        monitoring = Monitoring(
            self, "Monitoring",
            name_prefix=prefix,
            stream=stream,
            ingest_service=ingest,
            consumer=consumer,
            storage=storage,
            etl=etl,
            streams=settings.streams,
            no_data_minutes=settings.no_data_minutes,
            alarm_email=settings.alarm_email,
            api=web.api if web else None,
            site=web.site if web else None,
        )

        outputs: dict[str, tuple[str, str]] = {
            "StreamConfigSecretName": (stream_config.secret.secret_name,
                                       "Secret holding {\"streams\": [...]} for the ingester"),
            "DataBucketName": (storage.bucket.bucket_name,
                               "raw/, curated/, quarantine/, manifests/, athena-results/"),
            "TableName": (storage.table.table_name, "DynamoDB table of recent prices"),
            "StreamName": (stream.stream.stream_name, "Kinesis Data Stream of mini-tickers"),
            "ArchiveDeliveryStreamName": (stream.archive.delivery_stream_name,
                                          "Firehose delivery stream into raw/"),
            "ConsumerFunctionName": (consumer.function.function_name,
                                     "Lambda writing the stream into the table"),
            "ConsumerFailureQueueUrl": (consumer.failed_batches.queue_url,
                                        "Batches the consumer gave up on"),
            "IngestClusterName": (ingest.cluster.cluster_name, "ECS cluster of the ingester"),
            "IngestServiceName": (ingest.service.service_name, "ECS service (one task)"),
            "IngestLogGroup": (ingest.log_group.log_group_name, "Ingester logs and metrics"),
            "GlueDatabaseName": (settings.database_name, "Glue database of the tables"),
            "GlueJobName": (etl.job.ref, "raw_to_parquet; start it by hand for a backfill"),
            "GlueCompactionJobName": (etl.compaction_job.ref,
                                      "compact_day; start it by hand with --day or "
                                      "--start-day/--end-day"),
            "AthenaWorkGroup": (etl.workgroup.ref, "Athena workgroup with the named queries"),
            "OperationsDashboard": (monitoring.operations.dashboard_name,
                                    "CloudWatch dashboard of the pipeline"),
            "PricesDashboard": (monitoring.prices.dashboard_name,
                                "CloudWatch dashboard of close prices"),
            "AlarmTopicArn": (monitoring.topic.topic_arn, "SNS topic the alarms notify"),
        }
        if web:
            outputs.update(web.outputs)
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)

    def _web(self, settings: Settings, storage: Storage, removal: RemovalPolicy) -> WebLayer:
        """The read API and the page's distribution (``crypto-live:web``), with their outputs."""
        api = ReadApi(
            self, "Api",
            table_name=storage.table.table_name,
            retention_days=settings.retention_days,
            removal_policy=removal,
            reserved_concurrency=settings.api_reserved_concurrency,
        )
        site = WebSite(self, "Web", api_url=api.url, access_logs=storage.access_logs)
        storage.grant_item_reads(api.function)
        return WebLayer(api, site, {
            "PageUrl": (site.page_url, "The live price page"),
            "WebBucketName": (site.bucket.bucket_name, "The built page, served by CloudFront"),
            "DistributionId": (site.distribution.distribution_id,
                               "CloudFront distribution of the page and /api/*"),
            "ApiFunctionName": (api.function.function_name,
                                "Lambda answering /api/latest and /api/history"),
        })


class WebLayer(NamedTuple):
    api: ReadApi
    site: WebSite
    outputs: dict[str, tuple[str, str]]
