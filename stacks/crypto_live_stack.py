"""One stack per environment; it wires the constructs and holds no resource logic of its own."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Size, Stack
from constructs import Construct

from .consumer import Consumer
from .settings import Settings
from .storage import Storage
from .stream import TickerStream
from .stream_config import StreamConfig


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
            table_name=f"{prefix}-miniticker",
            removal_policy=removal,
            raw_transition_days=settings.raw_transition_days,
            raw_expiration_days=settings.raw_expiration_days,
            point_in_time_recovery=settings.point_in_time_recovery,
        )
        stream = TickerStream(
            self, "Stream",
            stream_name=f"{prefix}-miniticker",
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
            batch_size=settings.consumer_batch_size,
            batching_window=Duration.seconds(settings.consumer_batching_window_seconds),
            retry_attempts=settings.consumer_retry_attempts,
            max_record_age=Duration.seconds(settings.consumer_max_record_age_seconds),
            removal_policy=removal,
        )
        # Grants at the wiring site: each role gets the actions it uses on its resources only.
        storage.table.grant(consumer.function, "dynamodb:BatchWriteItem")

        outputs = {
            "StreamConfigSecretName": (stream_config.secret.secret_name,
                                       "Secret holding {\"streams\": [...]} for the ingester"),
            "DataBucketName": (storage.bucket.bucket_name,
                               "raw/, curated/, quarantine/, athena-results/"),
            "TableName": (storage.table.table_name, "DynamoDB table of recent prices"),
            "StreamName": (stream.stream.stream_name, "Kinesis Data Stream of mini-tickers"),
            "ArchiveDeliveryStreamName": (stream.archive.delivery_stream_name,
                                          "Firehose delivery stream into raw/"),
            "ConsumerFunctionName": (consumer.function.function_name,
                                     "Lambda writing the stream into the table"),
            "ConsumerFailureQueueUrl": (consumer.failed_batches.queue_url,
                                        "Batches the consumer gave up on"),
        }
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
