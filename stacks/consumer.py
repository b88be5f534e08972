"""The consumer Lambda behind the stream's event source mapping (docs/architecture.md §3.2)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from lambdas.consumer import settings as consumer_settings

from . import checkov, defaults
from .functions import python_function
from .nag import acknowledge
from .packaging import REPO

CONSUMER_DIR = REPO / "lambdas" / "consumer"
#: The function's memory, and with it its CPU: Lambda gives a function one full vCPU at
#: 1,769 MB. At the whole market an invocation's work is CPU-bound (decoding and validating
#: thousands of lines, and botocore serialising, signing and parsing a call for every symbol's
#: latest item and candle; its threads overlap the calls' waits, not their CPU), and a batch
#: must be done before the next one has gathered. CPU-bound work costs about the same
#: GB-seconds at any size, as it finishes sooner with more; ``bench/cost.py`` prices it.
MEMORY_MB = 1769


class Consumer(Construct):
    """The function (the ``consumer`` and ``miniticker`` packages, the Powertools layer), its
    event source mapping with bisecting, partial batch responses, bounded retries and record
    age, and an encrypted, TLS-only queue that receives what still fails.

    A record holds one or more JSON lines (`miniticker.kinesis_record`); the batch size counts
    records, and ``parallelization_factor`` batches of each shard are processed at once.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stream: kinesis.IStream,
        table_name: str,
        retention_days: int,
        price_metrics: bool,
        resolution_seconds: int,
        batch_size: int,
        batching_window: Duration,
        parallelization_factor: int,
        retry_attempts: int,
        max_record_age: Duration,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        built = python_function(
            self,
            package=CONSUMER_DIR,
            handler="consumer.handler.handler",
            description="crypto-live: Kinesis mini-tickers to the DynamoDB table",
            requirements=CONSUMER_DIR / "requirements.txt",
            environment=consumer_settings.environment(
                table_name, retention_days, price_metrics, resolution_seconds=resolution_seconds),
            memory_size=MEMORY_MB,
            timeout=Duration.seconds(60),
            removal_policy=removal_policy,
        )
        self.function, self.role, self.log_group = built.function, built.role, built.log_group
        checkov.skip_all(self.function, {
            "CKV_AWS_115": "The event source mapping bounds the function's concurrency (one "
                           "batch per shard and parallelization factor); a reservation set "
                           "below that would throttle the stream's own batches",
            "CKV_AWS_116": "The event source mapping invokes the function synchronously and "
                           "sends the batches that still fail to its on-failure queue; a "
                           "function DLQ receives only failed asynchronous invocations",
        })
        self.failed_batches = defaults.queue(
            self, "FailedBatches", removal_policy=removal_policy,
            retention_period=Duration.days(14))
        acknowledge(self.failed_batches, "SQS3", "This queue is the event source mapping's "
                    "on-failure destination: it is the dead-letter queue of the consumer")
        self.function.add_event_source(sources.KinesisEventSource(
            stream,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=batch_size,
            max_batching_window=batching_window,
            parallelization_factor=parallelization_factor,
            bisect_batch_on_error=True,
            report_batch_item_failures=True,
            retry_attempts=retry_attempts,
            max_record_age=max_record_age,
            on_failure=sources.SqsDlq(self.failed_batches),
        ))
