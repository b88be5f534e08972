"""The data bucket and the hot table (DESIGN §2.3, §2.4), with their safe defaults in one place."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from miniticker import layout
from miniticker.hot_table import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE

from .buckets import hardened_bucket

ATHENA_RESULTS_DAYS = 30
INCOMPLETE_UPLOAD_DAYS = 7


class Storage(Construct):
    """One bucket for every prefix of the data path; the DynamoDB table of recent prices.

    The bucket blocks public access, accepts TLS only, encrypts with S3-managed keys, keeps its
    access logs in a bucket of their own, and ages raw data to Standard-IA, then deletes it.
    The table is on-demand, encrypted, with TTL on ``expires_at`` and point-in-time recovery.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table_name: str,
        removal_policy: RemovalPolicy,
        raw_transition_days: int,
        raw_expiration_days: int,
        point_in_time_recovery: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        destroy = removal_policy == RemovalPolicy.DESTROY
        common: dict[str, Any] = {"removal_policy": removal_policy,
                                  "auto_delete_objects": destroy}
        self.access_logs = hardened_bucket(
            self, "AccessLogs", object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-logs",
                                              expiration=Duration.days(raw_expiration_days))],
            **common)
        self.bucket = hardened_bucket(
            self, "Data",
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="data/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="raw-ages-then-expires", prefix=layout.RAW_PREFIX,
                    transitions=[s3.Transition(
                        storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                        transition_after=Duration.days(raw_transition_days))],
                    expiration=Duration.days(raw_expiration_days)),
                s3.LifecycleRule(id="raw-errors-expire", prefix=layout.RAW_ERRORS_PREFIX,
                                 expiration=Duration.days(raw_expiration_days)),
                s3.LifecycleRule(id="athena-results-expire",
                                 prefix=layout.ATHENA_RESULTS_PREFIX,
                                 expiration=Duration.days(ATHENA_RESULTS_DAYS)),
                s3.LifecycleRule(id="abort-incomplete-uploads",
                                 abort_incomplete_multipart_upload_after=Duration.days(
                                     INCOMPLETE_UPLOAD_DAYS)),
            ],
            **common)
        self.table = dynamodb.Table(
            self, "Prices",
            table_name=table_name,
            partition_key=dynamodb.Attribute(name=PARTITION_KEY,
                                             type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=point_in_time_recovery),
            removal_policy=removal_policy,
        )
