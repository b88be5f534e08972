"""The consumer Lambda behind the stream's event source mapping (DESIGN §3.2)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from lambdas.consumer import settings as consumer_settings

from .nag import acknowledge
from .packaging import REPO, pinned_version, python_packages

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
CONSUMER_DIR = REPO / "lambdas" / "consumer"
#: AWS publishes each Powertools layer's ARN under this public SSM parameter; the version is the
#: one the tests run (lambdas/consumer/requirements.txt), resolved at deploy time.
POWERTOOLS_PARAMETER = "/aws/service/powertools/python/{arch}/python{python}/{version}"


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
        powertools = lambda_.LayerVersion.from_layer_version_arn(
            self, "Powertools", ssm.StringParameter.value_for_string_parameter(
                self, POWERTOOLS_PARAMETER.format(
                    arch="arm64", python=RUNTIME.name.removeprefix("python"),
                    version=pinned_version(CONSUMER_DIR / "requirements.txt",
                                           "aws-lambda-powertools"))))
        self.log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_MONTH,
                                       removal_policy=removal_policy)
        # Its own role: writes to its own log group, instead of the managed basic execution
        # policy (logs anywhere in the account).
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                             description="crypto-live consumer Lambda")
        self.log_group.grant_write(self.role)
        acknowledge(self.role, "IAM5", "X-Ray's PutTraceSegments and PutTelemetryRecords take "
                    "no resource ARN, and active tracing needs them", "Resource::*")
        self.function = lambda_.Function(
            self, "Function",
            description="crypto-live: Kinesis mini-tickers to the DynamoDB table",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler="consumer.handler.handler",
            role=self.role,
            code=python_packages(CONSUMER_DIR),
            layers=[powertools],
            memory_size=512,
            timeout=Duration.seconds(60),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            environment=consumer_settings.environment(table_name, retention_days, price_metrics),
        )
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
