"""The consumer Lambda behind the stream's event source mapping (DESIGN §3.2)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lambdas.consumer import settings as consumer_settings

from .functions import python_function
from .nag import acknowledge
from .packaging import REPO

CONSUMER_DIR = REPO / "lambdas" / "consumer"


class Consumer(Construct):
    """The function (the ``consumer`` and ``miniticker`` packages, the Powertools layer), its
    event source mapping with bisecting, partial batch responses, bounded retries and record
    age, and an encrypted, TLS-only queue that receives what still fails."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stream: kinesis.IStream,
        table_name: str,
        retention_days: int,
        price_metrics: bool,
        batch_size: int,
        batching_window: Duration,
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
            environment=consumer_settings.environment(table_name, retention_days, price_metrics),
            memory_size=512,
            timeout=Duration.seconds(60),
            removal_policy=removal_policy,
        )
        self.function, self.role, self.log_group = built.function, built.role, built.log_group
        self.failed_batches = sqs.Queue(
            self, "FailedBatches",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=removal_policy,
        )
        acknowledge(self.failed_batches, "SQS3", "This queue is the event source mapping's "
                    "on-failure destination: it is the dead-letter queue of the consumer")
        self.function.add_event_source(sources.KinesisEventSource(
            stream,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=batch_size,
            max_batching_window=batching_window,
            bisect_batch_on_error=True,
            report_batch_item_failures=True,
            retry_attempts=retry_attempts,
            max_record_age=max_record_age,
            on_failure=sources.SqsDlq(self.failed_batches),
        ))
