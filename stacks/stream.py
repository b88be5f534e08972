"""The Kinesis Data Stream between the ingester and its two consumers, and the Firehose delivery
stream that archives it as gzip JSON lines in hourly prefixes (docs/architecture.md §1, §2.2,
§2.3)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_s3 as s3
from constructs import Construct

from miniticker import layout

from . import defaults
from .nag import GRANT_ACTIONS, acknowledge, arn_finding


class TickerStream(Construct):
    """An encrypted stream (one day's retention), and Firehose from it into ``raw/``.

    Firehose takes the records as they are: each is one or more JSON lines, each ending in a
    newline (`miniticker.kinesis_record`), so the objects are JSON lines without a transform.
    Failed deliveries land under ``raw-errors/``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stream_name: str,
        on_demand: bool,
        shard_count: int,
        bucket: s3.IBucket,
        buffer_size: Size,
        buffer_interval: Duration,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        #: How long Firehose gathers before it writes an object (the archive's freshness).
        self.buffer_interval = buffer_interval
        self.stream = kinesis.Stream(
            self, "Stream",
            stream_name=stream_name,
            encryption=kinesis.StreamEncryption.MANAGED,
            stream_mode=(kinesis.StreamMode.ON_DEMAND if on_demand
                         else kinesis.StreamMode.PROVISIONED),
            shard_count=None if on_demand else shard_count,
            retention_period=Duration.hours(24),
            removal_policy=removal_policy,
        )
        self.delivery_logs = defaults.log_group(self, "DeliveryLogs",
                                                removal_policy=removal_policy)
        self.archive = firehose.DeliveryStream(
            self, "Archive",
            source=firehose.KinesisStreamSource(self.stream),
            destination=firehose.S3Bucket(
                bucket,
                data_output_prefix=layout.FIREHOSE_RAW_PREFIX,
                error_output_prefix=layout.FIREHOSE_ERROR_PREFIX,
                compression=firehose.Compression.GZIP,
                buffering_size=buffer_size,
                buffering_interval=buffer_interval,
                logging_config=firehose.EnableLogging(self.delivery_logs),
            ),
        )
        acknowledge(self.archive, "KDF1", "Firehose cannot apply its own encryption when a "
                    "Kinesis stream is its source; records are encrypted in the stream (KMS) "
                    "and in the bucket (SSE-S3)")
        acknowledge(self.archive, "IAM5", "Firehose's S3 destination construct grants "
                    "read/write on the bucket's objects; its prefixes keep its writes under "
                    "raw/ and raw-errors/", *GRANT_ACTIONS, arn_finding(bucket, "/*"))
        cdk.Validations.of(cdk.Stack.of(self)).acknowledge(cdk.Acknowledgment(
            id="CloudFormation-Validate::W7001",
            reason="aws-cdk-lib's Firehose module adds a mapping of its service CIDR blocks by "
                   "region to every stack using it; this stack has no use for it"))

    def grant_write(self, grantee: iam.IGrantable) -> iam.Grant:
        """Putting records into the stream (the ingester)."""
        return self.stream.grant_write(grantee)
