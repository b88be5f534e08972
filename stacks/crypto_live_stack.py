"""One stack per environment; it wires the constructs and holds no resource logic of its own."""

from __future__ import annotations

from typing import Any, NamedTuple

from aws_cdk import Aws, CfnOutput, Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from miniticker import layout

from .capacity import estimate_load
from .catalog_etl import CatalogAndEtl
from .consumer import Consumer
from .ingest_service import IngestService
from .monitoring import Monitoring
from .nag import GRANT_ACTIONS, acknowledge, arn_finding
from .read_api import ReadApi
from .settings import Settings
from .storage import Storage
from .stream import TickerStream
from .stream_config import StreamConfig
from .web import WebSite

#: What both Glue jobs read, write and delete: the three curated tables, and the manifests
#: (day locks, day states, the retired ledger, the hourly run's manifests).
CURATION_PREFIXES = (layout.CURATED_PREFIX, layout.CANDLES_PREFIX, layout.COVERAGE_PREFIX,
                     layout.MANIFEST_PREFIX)
#: What the hourly job reads, writes and deletes (it reads raw/ as well); the compaction job
#: keeps to `CURATION_PREFIXES`. Granted and acknowledged from these lists.
ETL_WRITE_PREFIXES = (*CURATION_PREFIXES, layout.QUARANTINE_PREFIX)
#: What the jobs do in the Glue catalog, on the curated tables only: read the table, read,
#: create and move (compaction, a late merge) its partitions (curation/partitions.py).
GLUE_CATALOG_ACTIONS = ("glue:GetTable", "glue:BatchGetPartition", "glue:BatchCreatePartition",
                        "glue:BatchUpdatePartition")

#: Where Glue's Python shell jobs log (Glue creates the groups on first use).
GLUE_LOG_GROUPS = "/aws-glue/python-jobs/"


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

        web = self._web(settings, storage, removal) if settings.web else None
        monitoring = Monitoring(
            self, "Monitoring",
            name_prefix=prefix,
            stream=stream.stream,
            archive=stream.archive,
            consumer=consumer.function,
            failures=consumer.failed_batches,
            table=storage.table,
            ingest_service=ingest.service,
            glue_job_names=(etl.job.ref, etl.compaction_job.ref),
            symbols=settings.symbols,
            streams=settings.streams,
            no_data_minutes=settings.no_data_minutes,
            events_per_second=estimate_load(settings.streams).events,
            firehose_buffer_seconds=settings.firehose_buffer_seconds,
            alarm_email=settings.alarm_email,
            read_api=web.api.function if web else None,
            distribution=web.site.distribution if web else None,
        )

        # Grants at the wiring site: each role gets the actions it uses on its resources only.
        stream.stream.grant_write(ingest.task_definition.task_role)
        stream_config.secret.grant_read(ingest.task_definition.task_role)
        # Event items in batches; latest and candle items read in batches, then put one by one
        # on a condition (lambdas/consumer/writer.py, summaries.py).
        storage.table.grant(consumer.function, "dynamodb:BatchWriteItem", "dynamodb:PutItem",
                            "dynamodb:BatchGetItem")
        # The Glue jobs: the hourly one reads raw/ too; each reads its scripts.
        for role, reads, writes in ((etl.role, (layout.RAW_PREFIX,), ETL_WRITE_PREFIXES),
                                    (etl.compaction_role, (), CURATION_PREFIXES)):
            etl.scripts.grant_read(role)
            for prefix in reads:
                storage.bucket.grant_read(role, f"{prefix}*")
            for prefix in writes:
                storage.bucket.grant_read_write(role, f"{prefix}*")
            role.add_to_policy(iam.PolicyStatement(actions=list(GLUE_CATALOG_ACTIONS),
                                                   resources=etl.catalog_arns))
            role.add_to_policy(iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:"
                           f"{GLUE_LOG_GROUPS}*"]))
            acknowledge(role, "IAM5", "The job reads, writes and deletes objects under its own "
                        "prefixes only (grant action groups limited to those prefixes; the "
                        "hourly job also reads raw/), reads its scripts, and logs to Glue's "
                        "Python shell log groups",
                        *GRANT_ACTIONS, arn_finding(etl.scripts, "/*"),
                        *(arn_finding(storage.bucket, f"/{prefix}*")
                          for prefix in (*reads, *writes)),
                        "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"
                        f"log-group:{GLUE_LOG_GROUPS}*")

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
        # Reads of single items and of one partition: not grant_read_data, which adds Scan,
        # BatchGetItem, ConditionCheckItem and the table's description.
        storage.table.grant(api.function, "dynamodb:Query", "dynamodb:GetItem")
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
