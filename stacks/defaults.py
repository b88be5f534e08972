"""The one place for what this app's resources share unless a caller says otherwise: how long
logs are kept, how a bucket is hardened, what a removal policy does to a bucket's objects, where
its access logs go, how long a versioned bucket keeps old versions, how a queue is encrypted
(after the AWS Solutions Constructs' defaults modules). The checkov findings these defaults
answer for every resource they make are suppressed here too, with their reasons.

Every helper takes the construct's own settings as keyword arguments, which may also override a
default here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from . import checkov

#: Every log group of the app (the ingester's, the functions', Firehose's, the VPC flow logs).
LOG_RETENTION = logs.RetentionDays.ONE_MONTH

#: Every bucket blocks public access, accepts TLS only and encrypts with S3-managed keys.
BUCKET_HARDENING: dict[str, Any] = {
    "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
    "encryption": s3.BucketEncryption.S3_MANAGED,
    "enforce_ssl": True,
}

#: How long a versioned bucket keeps the version an overwrite or a delete replaced: time to
#: notice a bad write and restore what it replaced, after which storage stops growing.
NONCURRENT_VERSION_DAYS = 7

#: Every queue: encrypted with the AWS managed key of SQS (``alias/aws/sqs``), which the account's
#: principals use through SQS with no key policy of ours, and TLS only.
QUEUE_DEFAULTS: dict[str, Any] = {
    "encryption": sqs.QueueEncryption.KMS_MANAGED,
    "enforce_ssl": True,
}

#: aws-cdk-lib's singleton behind ``auto_delete_objects``: its handler is the library's.
AUTO_DELETE_PROVIDER = "Custom::S3AutoDeleteObjectsCustomResourceProvider"

LOG_ENCRYPTION_REASON = (
    "CloudWatch Logs encrypts every log group at rest; the lines hold operational events and "
    "public market prices, no secret or personal data, so a customer-managed key would add a "
    "key policy and KMS charges and protect nothing more")


def log_group(scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy,
              **overrides: Any) -> logs.LogGroup:
    """A log group kept `LOG_RETENTION`, removed or retained with the stack's data."""
    group = logs.LogGroup(scope, construct_id, **{
        "retention": LOG_RETENTION, "removal_policy": removal_policy, **overrides})
    if "encryption_key" not in overrides:
        checkov.skip(group, "CKV_AWS_158", LOG_ENCRYPTION_REASON)
    return group


def bucket(scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy,
           access_logs: s3.IBucket | None = None, log_prefix: str | None = None,
           **overrides: Any) -> s3.Bucket:
    """A bucket with `BUCKET_HARDENING`, its server access logs in ``access_logs`` under
    ``log_prefix`` (when given). With `RemovalPolicy.DESTROY` CDK's auto-delete empties it
    first, since CloudFormation deletes no bucket that holds objects."""
    defaults: dict[str, Any] = {
        **BUCKET_HARDENING, "removal_policy": removal_policy,
        "auto_delete_objects": removal_policy == RemovalPolicy.DESTROY}
    if access_logs is not None:
        defaults.update(server_access_logs_bucket=access_logs,
                        server_access_logs_prefix=log_prefix)
    made = s3.Bucket(scope, construct_id, **{**defaults, **overrides})
    provider = Stack.of(scope).node.try_find_child(AUTO_DELETE_PROVIDER)
    if provider is not None:
        checkov.skip_library_handler(provider.node.find_child("Handler"),
                                     "CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117")
    return made


def versioned_bucket(scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy,
                     lifecycle_rules: Sequence[s3.LifecycleRule] = (),
                     **overrides: Any) -> s3.Bucket:
    """A `bucket` whose objects survive an overwrite or a delete for `NONCURRENT_VERSION_DAYS`
    as noncurrent versions, which then expire, as do the delete markers left with none."""
    return bucket(scope, construct_id, removal_policy=removal_policy, versioned=True,
                  lifecycle_rules=[*lifecycle_rules, s3.LifecycleRule(
                      id="noncurrent-versions-expire",
                      noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                      expired_object_delete_marker=True)],
                  **overrides)


def access_logs_bucket(scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy,
                       expiration: Duration, **overrides: Any) -> s3.Bucket:
    """The bucket the others log to (S3 server access logs, CloudFront standard logs): ACLs
    stay enabled (bucket owner preferred), as CloudFront's log delivery requires; the logs
    expire after ``expiration``."""
    logs_bucket = bucket(scope, construct_id, removal_policy=removal_policy, **{
        "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        "lifecycle_rules": [s3.LifecycleRule(id="expire-logs", expiration=expiration)],
        **overrides})
    checkov.skip_all(logs_bucket, {
        "CKV_AWS_18": "This is the bucket the others log to: logging its own accesses into "
                      "itself would log each log delivery, without end",
        "CKV_AWS_21": "S3 and CloudFront log delivery write each log object once under a new "
                      "key and nothing overwrites one; the logs expire by lifecycle, so old "
                      "versions would only keep expired logs",
    })
    return logs_bucket


def build_output_bucket(scope: Construct, construct_id: str, *, access_logs: s3.IBucket,
                        log_prefix: str, **overrides: Any) -> s3.Bucket:
    """A bucket for files a deploy writes from the repository (the Glue jobs' files, the built
    page): no versioning and removed with the stack, since every object is rewritten by each
    deploy and the repository is its history."""
    built = bucket(scope, construct_id, removal_policy=RemovalPolicy.DESTROY,
                   access_logs=access_logs, log_prefix=log_prefix, **overrides)
    checkov.skip(built, "CKV_AWS_21", "Every object is a build output that each deploy "
                 "rewrites from the repository, which is its history; an overwritten or "
                 "deleted file is restored by deploying again")
    return built


def queue(scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy,
          **overrides: Any) -> sqs.Queue:
    """A queue with `QUEUE_DEFAULTS`, removed or retained with the stack's data."""
    return sqs.Queue(scope, construct_id, **{
        **QUEUE_DEFAULTS, "removal_policy": removal_policy, **overrides})
