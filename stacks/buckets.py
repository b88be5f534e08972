"""The one definition of how this app's buckets are hardened, and of its build-output buckets.

Every bucket blocks public access, accepts TLS only and encrypts with S3-managed keys; callers
pass anything else (lifecycle, logging, removal) as keyword arguments, which may also override
these defaults.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

HARDENING: dict[str, Any] = {
    "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
    "encryption": s3.BucketEncryption.S3_MANAGED,
    "enforce_ssl": True,
}


def hardened_bucket(scope: Construct, construct_id: str, **kwargs: Any) -> s3.Bucket:
    return s3.Bucket(scope, construct_id, **{**HARDENING, **kwargs})


def build_output_bucket(scope: Construct, construct_id: str, *, access_logs: s3.IBucket,
                        log_prefix: str) -> s3.Bucket:
    """A hardened bucket for files a deploy writes from the repository (the Glue job's files,
    the built page): no versioning and removed with the stack, since every object is rewritten
    by each deploy and the repository is its history."""
    return hardened_bucket(scope, construct_id, server_access_logs_bucket=access_logs,
                           server_access_logs_prefix=log_prefix,
                           removal_policy=RemovalPolicy.DESTROY, auto_delete_objects=True)
