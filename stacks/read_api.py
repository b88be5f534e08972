"""The read API over the hot table (docs/api.md): a Lambda function behind a function URL that
only CloudFront may call."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from lambdas.api import settings as api_settings
from miniticker.metrics import NAMESPACE

from . import checkov
from .functions import python_function
from .packaging import REPO
from .settings import Settings

API_DIR = REPO / "lambdas" / "api"
HANDLER = "api.handler.handler"
#: The Powertools version the API's tests run: its layer is the function's.
REQUIREMENTS = API_DIR / "requirements.txt"
#: The consumer's size: an answer for ten symbols is mostly a wait for DynamoDB, which more
#: memory does not shorten but does bill. Lambda's CPU grows with memory, so a whole-market
#: deployment (thousands of symbols in every ``latest``) may want more.
MEMORY_MB = 512
#: DynamoDB answers a Query in milliseconds; waiting much longer only delays the 503 a viewer
#: should see, and stays well inside CloudFront's origin read timeout.
TIMEOUT = Duration.seconds(10)


class ReadApi(Construct):
    """The ``api`` package (with the contract and the Powertools layer) on Python ARM64, with
    X-Ray tracing, a role and log group of its own, reserved concurrency (a ceiling on what a
    flood of cache misses can cost in Lambda and DynamoDB reads, and a floor the consumer's
    traffic cannot take away), and a function URL with ``AWS_IAM`` auth: unsigned requests are
    refused, and the distribution signs its requests through an origin access control.

    The table's reads it needs (Query and GetItem) are `Storage.grant_item_reads`'s, called
    at the wiring site.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table_name: str,
        retention_days: int,
        removal_policy: RemovalPolicy,
        reserved_concurrency: int = Settings.api_reserved_concurrency,
    ) -> None:
        super().__init__(scope, construct_id)
        built = python_function(
            self,
            package=API_DIR,
            handler=HANDLER,
            description="crypto-live: the read API (latest prices, history) over the table",
            requirements=REQUIREMENTS,
            environment=api_settings.environment(table_name, retention_days, NAMESPACE),
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
            removal_policy=removal_policy,
            reserved_concurrency=reserved_concurrency,
        )
        self.function, self.role, self.log_group = built.function, built.role, built.log_group
        checkov.skip(self.function, "CKV_AWS_116", "CloudFront invokes the function "
                     "synchronously through its URL and the viewer sees any error; a function "
                     "DLQ receives only failed asynchronous invocations")
        # BUFFERED: the answers are small JSON documents that CloudFront caches whole.
        self.url = self.function.add_function_url(
            auth_type=lambda_.FunctionUrlAuthType.AWS_IAM,
            invoke_mode=lambda_.InvokeMode.BUFFERED)
