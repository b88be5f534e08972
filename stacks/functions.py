"""What every Lambda function of this app shares: the Python runtime and architecture, the
Powertools layer of the version its tests run, X-Ray tracing, a role of its own and a log group of
its own. The consumer and the read API are built by `python_function`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from . import checkov, defaults
from .nag import acknowledge
from .packaging import pinned_version, python_packages

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
#: AWS publishes each Powertools layer's ARN under this public SSM parameter; the version is the
#: one the tests run (the function's requirements.txt), resolved at deploy time.
POWERTOOLS_PARAMETER = "/aws/service/powertools/python/{arch}/python{python}/{version}"


@dataclass(frozen=True)
class PythonFunction:
    function: lambda_.Function
    role: iam.Role
    log_group: logs.LogGroup


def powertools_parameter(requirements: Path) -> str:
    """The SSM parameter naming the layer of the Powertools version pinned in ``requirements``."""
    return POWERTOOLS_PARAMETER.format(
        arch="arm64", python=RUNTIME.name.removeprefix("python"),
        version=pinned_version(requirements, "aws-lambda-powertools"))


def python_function(
    scope: Construct,
    *,
    package: Path,
    handler: str,
    description: str,
    requirements: Path,
    environment: Mapping[str, str],
    memory_size: int,
    timeout: Duration,
    removal_policy: RemovalPolicy,
    reserved_concurrency: int | None = None,
) -> PythonFunction:
    """The function of ``package`` (shipped with the record contract) in ``scope``.

    The children keep the ids the consumer had before this helper existed (``Powertools``,
    ``Logs``, ``Role``, ``Function``), so a deployed stack's logical ids do not change.
    """
    powertools = lambda_.LayerVersion.from_layer_version_arn(
        scope, "Powertools",
        ssm.StringParameter.value_for_string_parameter(scope, powertools_parameter(requirements)))
    log_group = defaults.log_group(scope, "Logs", removal_policy=removal_policy)
    # Its own role: writes to its own log group, instead of the managed basic execution
    # policy (logs anywhere in the account).
    role = iam.Role(scope, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                    description=f"crypto-live {package.name} Lambda")
    log_group.grant_write(role)
    acknowledge(role, "IAM5", "X-Ray's PutTraceSegments and PutTelemetryRecords take "
                "no resource ARN, and active tracing needs them", "Resource::*")
    function = lambda_.Function(
        scope, "Function",
        description=description,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=handler,
        role=role,
        code=python_packages(package),
        layers=[powertools],
        memory_size=memory_size,
        timeout=timeout,
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        environment=dict(environment),
        reserved_concurrent_executions=reserved_concurrency,
    )
    checkov.skip_all(function, {
        "CKV_AWS_117": "The function calls only AWS APIs (DynamoDB, CloudWatch, X-Ray), which "
                       "IAM guards; in a VPC it would need a NAT gateway or endpoints for them "
                       "and would isolate nothing",
        "CKV_AWS_173": "The environment holds a table name and plain settings, no secret; "
                       "Lambda encrypts environment variables at rest with an AWS managed key",
    })
    return PythonFunction(function, role, log_group)
