"""The data bucket and the hot table (docs/architecture.md §2.3, §2.4), and the grants on them,
each limited to the prefixes or the actions its user needs."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from miniticker import layout
from miniticker.hot_table import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE

from . import checkov, defaults
from .nag import GRANT_ACTIONS, acknowledge, arn_finding

ATHENA_RESULTS_DAYS = 30
INCOMPLETE_UPLOAD_DAYS = 7
#: What both Glue jobs read, write and delete: the three curated tables, and the manifests
#: (day locks, day states, the retired ledger, the hourly run's manifests).
CURATION_PREFIXES = (layout.CURATED_PREFIX, layout.CANDLES_PREFIX, layout.COVERAGE_PREFIX,
                     layout.MANIFEST_PREFIX)
#: What the hourly job writes beside them: the lines it sets aside.
QUARANTINE_PREFIXES = (layout.QUARANTINE_PREFIX,)


class Storage(Construct):
    """One bucket for every prefix of the data path; the DynamoDB table of recent prices.

    The bucket has the app's hardening (`stacks.defaults`), is versioned (previous versions
    expire), keeps its access logs in a bucket of their own, and ages raw data to Standard-IA,
    then deletes it.
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
        self.access_logs = defaults.access_logs_bucket(
            self, "AccessLogs", removal_policy=removal_policy,
            expiration=Duration.days(raw_expiration_days))
        # Versioned: the Glue jobs overwrite and delete curated objects and manifests, so a bad
        # run's writes can be undone within `defaults.NONCURRENT_VERSION_DAYS`.
        self.bucket = defaults.versioned_bucket(
            self, "Data", removal_policy=removal_policy,
            access_logs=self.access_logs, log_prefix="data/",
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
            ])
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
        checkov.skip(self.table, "CKV_AWS_119", "The table holds recent public market prices "
                     "only, encrypted at rest with the AWS managed key of DynamoDB; a customer-"
                     "managed key would add a key policy and KMS charges and protect nothing "
                     "more")

    def grant_item_writes(self, grantee: iam.IGrantable) -> iam.Grant:
        """The consumer's writes: event items in batches; latest and candle items read in
        batches, then put one by one on a condition (lambdas/consumer/writer.py, summaries.py)."""
        return self.table.grant(grantee, "dynamodb:BatchWriteItem", "dynamodb:PutItem",
                                "dynamodb:BatchGetItem")

    def grant_item_reads(self, grantee: iam.IGrantable) -> iam.Grant:
        """The read API's reads of single items and of one partition: not ``grant_read_data``,
        which adds Scan, BatchGetItem, ConditionCheckItem and the table's description."""
        return self.table.grant(grantee, "dynamodb:Query", "dynamodb:GetItem")

    def grant_raw_read(self, role: iam.IRole) -> None:
        """Reading the raw archive (the hourly Glue job's input), and nothing else of it."""
        self._grant_prefixes(role, (layout.RAW_PREFIX,), write=False,
                             reason="The role reads objects under raw/ only (the grant's action "
                                    "groups limited to that prefix)")

    def grant_curation(self, role: iam.IRole, *, quarantine: bool = False) -> None:
        """Reading, writing and deleting the curated tables and the manifests (both Glue jobs),
        and ``quarantine/`` too where the role sets bad lines aside (the hourly job)."""
        prefixes = (*CURATION_PREFIXES, *(QUARANTINE_PREFIXES if quarantine else ()))
        self._grant_prefixes(role, prefixes, write=True,
                             reason="The role reads, writes and deletes objects under its own "
                                    "prefixes only (the grant's action groups limited to "
                                    "those prefixes): " + ", ".join(prefixes))

    def _grant_prefixes(self, role: iam.IRole, prefixes: Sequence[str], *, write: bool,
                        reason: str) -> None:
        for prefix in prefixes:
            if write:
                self.bucket.grant_read_write(role, f"{prefix}*")
            else:
                self.bucket.grant_read(role, f"{prefix}*")
        acknowledge(role, "IAM5", reason, *GRANT_ACTIONS,
                    *(arn_finding(self.bucket, f"/{prefix}*") for prefix in prefixes))
