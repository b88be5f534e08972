"""The Glue catalog of the raw and curated datasets, the two Glue jobs (raw_to_parquet hourly,
compact_day daily) and their schedules, and Athena (docs/architecture.md §2.6, §3.3): tables whose
columns come from the contract and `miniticker.catalog`, no crawler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Aws, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from miniticker import catalog, layout

from . import checkov
from .defaults import build_output_bucket
from .nag import GRANT_ACTIONS, acknowledge, arn_finding, cdk_assets_finding
from .packaging import REPO, glue_job_files, pinned_version, wheel_name
from .queries import CANDLES_QUERY, GAPS_QUERY

JOB_SCRIPT = REPO / "glue_jobs" / "raw_to_parquet.py"  # hourly
COMPACTION_SCRIPT = REPO / "glue_jobs" / "compact_day.py"  # daily
#: The wheels both jobs install: the record contract and the jobs' own package.
JOB_PACKAGES = (REPO / "miniticker", REPO / "glue_jobs" / "curation")
WHEEL_VERSION = "1"  # the keys are fixed; each deploy overwrites them
SCRIPTS_PREFIX = "glue/"
JOB_CAPACITY_DPU = 0.0625  # 1/16 DPU: 1 GB of memory, which each job stays under
JOB_TIMEOUT_MINUTES = 60
MAX_CONCURRENT_RUNS = 4  # hours of a backfill may run side by side (each event day's lock
#                          serializes their writes to one day)
#: A day's partitions are compacted one after another (bench/bench_compaction.py measures a
#: day of 200 symbols); a backfill of many days is started by hand with a longer timeout.
COMPACTION_TIMEOUT_MINUTES = 120
#: Daily, for the day before (the job's default day). Events of day D keep arriving in the raw
#: hour D+1T00 (Firehose's buffer, the feed's lag); the default hourly schedule converts that
#: hour at 01:15. Compacting after it means a late event seldom lands in a compacted day; one that
#: does is merged into a new generation under the day's lock, so the time is for cost, not for
#: correctness.
COMPACTION_SCHEDULE = "cron(30 1 * * ? *)"
#: The jobs' own runtime pins, beyond pyarrow (the reasons are in the file).
GLUE_REQUIREMENTS = REPO / "glue_jobs" / "requirements.txt"
RESULTS_CUTOFF_BYTES = 10 * 1024**3  # an Athena query scanning more is cancelled
SECURITY_CONFIGURATION_REASON = (
    "The configuration encrypts the jobs' S3 writes (SSE-S3); Python shell jobs have no job "
    "bookmarks to encrypt, and CloudWatch Logs encryption would need a customer-managed key "
    "for logs that hold run summaries, no secret")
#: What the jobs do in the Glue catalog, on the curated tables only: read the table, read,
#: create and move (compaction, a late merge) its partitions (curation/partitions.py).
GLUE_CATALOG_ACTIONS = ("glue:GetTable", "glue:BatchGetPartition", "glue:BatchCreatePartition",
                        "glue:BatchUpdatePartition")
#: Where Glue's Python shell jobs log (Glue creates the groups on first use).
GLUE_LOG_GROUPS = "/aws-glue/python-jobs/"

LATEST_PRICES = """-- Latest price of every symbol (from the curated dataset, last two days).
SELECT symbol,
       max_by(close_price, event_time) AS close_price,
       max(event_time) AS event_time
FROM "{database}"."{table}"
WHERE dt >= date_format(current_date - INTERVAL '1' DAY, '%Y-%m-%d')
GROUP BY symbol
ORDER BY symbol
"""

MINUTE_OHLC = """-- 1-minute OHLC of one symbol over a time range; run with three execution
-- parameters: the symbol, then the start and end as 'YYYY-MM-DD HH:MM:SS' (UTC).
SELECT date_trunc('minute', event_time) AS minute,
       min_by(close_price, event_time) AS open,
       max(close_price) AS high,
       min(close_price) AS low,
       max_by(close_price, event_time) AS close,
       count(*) AS events
FROM "{database}"."{table}"
WHERE symbol = ?
  AND event_time >= CAST(? AS timestamp) AND event_time < CAST(? AS timestamp)
  AND dt BETWEEN date_format(CAST(? AS timestamp), '%Y-%m-%d')
             AND date_format(CAST(? AS timestamp), '%Y-%m-%d')
GROUP BY 1
ORDER BY 1
"""


class CatalogAndEtl(Construct):
    """Database, a JSON table over ``raw/`` (partition projection: queryable as Firehose
    writes), three Parquet tables over ``curated/`` (the jobs register and move their
    partitions), the hourly and the daily Python shell jobs with the contract and the
    ``curation`` package as wheels, their scheduled triggers, and an Athena workgroup with
    named queries.

    Each job has a role of its own, granted here what it does with this construct's resources
    (its files, the catalog, Glue's log groups); the bucket's owner grants it the data
    (`Storage.grant_curation`, `Storage.grant_raw_read`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        database_name: str,
        bucket: s3.IBucket,
        access_logs: s3.IBucket,
        schedule: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.database_name = database_name
        database = glue.CfnDatabase(self, "Database", catalog_id=Aws.ACCOUNT_ID, database_input={
            "name": database_name, "description": "crypto-live: Binance mini-tickers"})
        raw_location = f"s3://{bucket.bucket_name}/{layout.RAW_PREFIX}"
        self.raw_table = self._table(catalog.table_input(
            catalog.RAW_TABLE, columns=catalog.raw_columns(),
            partition_keys=catalog.RAW_PARTITION_KEYS, location=raw_location,
            storage=catalog.JSON_LINES_FORMAT, parameters={
                "classification": "json", "compressionType": "gzip",
                # Partition projection: every Firehose hour is queryable without registration.
                "projection.enabled": "true",
                "projection.dt.type": "date", "projection.dt.format": "yyyy-MM-dd",
                "projection.dt.range": "2024-01-01,NOW", "projection.dt.interval": "1",
                "projection.dt.interval.unit": "DAYS",
                "projection.hour.type": "integer", "projection.hour.range": "0,23",
                "projection.hour.digits": "2",
                "storage.location.template": raw_location + "dt=${dt}/hour=${hour}/",
            }))
        # The curated tables: no projection, since each partition's location is the catalog's
        # to say (its hourly files, or a compacted generation).
        self.curated_tables = {
            table_input["Name"]: self._table(table_input)
            for table_input in catalog.curated_table_inputs(f"s3://{bucket.bucket_name}/")}
        for table in (self.raw_table, *self.curated_tables.values()):
            table.node.add_dependency(database)

        # The jobs' files at fixed keys: Glue's pip needs a wheel's own file name.
        self.scripts = build_output_bucket(self, "Scripts", access_logs=access_logs,
                                           log_prefix="glue-scripts/")
        deployment = s3deploy.BucketDeployment(
            self, "JobFiles", destination_bucket=self.scripts,
            destination_key_prefix=SCRIPTS_PREFIX,
            sources=[glue_job_files((JOB_SCRIPT, COMPACTION_SCRIPT), JOB_PACKAGES,
                                    WHEEL_VERSION)])
        scripts = f"s3://{self.scripts.bucket_name}/{SCRIPTS_PREFIX}"
        arguments = {
            "--bucket": bucket.bucket_name,
            "--database": database_name,
            "--extra-py-files": ",".join(scripts + wheel_name(package, WHEEL_VERSION)
                                         for package in JOB_PACKAGES),
            "--additional-python-modules": ",".join((
                f"pyarrow=={pinned_version(REPO / 'requirements.txt', 'pyarrow')}",
                f"boto3=={pinned_version(GLUE_REQUIREMENTS, 'boto3')}")),
            "library-set": "analytics",
        }

        # Both jobs run under it: what Glue writes to S3 for them is SSE-S3 encrypted (as the
        # bucket's default encryption does for their own writes). It holds no data, and its
        # generated name lets CloudFormation replace it.
        self.security_configuration = glue.SecurityConfiguration(
            self, "SecurityConfiguration", s3_encryption=glue.S3Encryption.s3_managed(),
            removal_policy=RemovalPolicy.DESTROY)
        checkov.skip(self.security_configuration, "CKV_AWS_99", SECURITY_CONFIGURATION_REASON)

        self.job_role = iam.Role(
            self, "JobRole", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="raw_to_parquet: raw hours in, curated Parquet out")
        self.job = self._job(
            "Job", name=f"{name_prefix}-raw-to-parquet", script=JOB_SCRIPT, role=self.job_role,
            description="Raw gzip JSON lines of an hour into the curated tables (Snappy "
                        "Parquet)",
            timeout=JOB_TIMEOUT_MINUTES, max_concurrent_runs=MAX_CONCURRENT_RUNS,
            arguments=arguments)
        self.compaction_role = iam.Role(
            self, "CompactionRole", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="compact_day: a day's hourly curated files into one file a partition")
        self.compaction_job = self._job(
            "CompactionJob", name=f"{name_prefix}-compact-day", script=COMPACTION_SCRIPT,
            role=self.compaction_role,
            description="Compact an event day of the curated tables: one file (or a few) "
                        "a table, day and symbol",
            # One at a time is tidy; the day lock, not this, keeps two runs off one day.
            timeout=COMPACTION_TIMEOUT_MINUTES, max_concurrent_runs=1, arguments=arguments)
        for job in self.jobs:
            job.node.add_dependency(deployment)
        for role in self.roles:
            self._grant_job_resources(role)
        # aws-cdk-lib's own BucketDeployment handler: its runtime and role are the library's.
        handler = next(child for child in Stack.of(self).node.children
                       if child.node.id.startswith("Custom::CDKBucketDeployment"))
        acknowledge(handler, "L1", "The runtime of aws-cdk-lib's BucketDeployment handler is "
                    "set by the library version, pinned in requirements.txt")
        acknowledge(handler, "IAM4", "aws-cdk-lib's BucketDeployment handler uses the basic "
                    "Lambda execution policy by design",
                    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaBasicExecutionRole")
        acknowledge(handler, "IAM5", "aws-cdk-lib's BucketDeployment handler reads the CDK "
                    "asset and writes the scripts bucket with the library's grant action groups",
                    *GRANT_ACTIONS, arn_finding(self.scripts, "/*"), cdk_assets_finding(self))
        checkov.skip_library_handler(handler, "CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117",
                                     "CKV_AWS_173")
        self.trigger = glue.CfnTrigger(
            self, "Schedule", type="SCHEDULED", schedule=schedule, start_on_creation=True,
            description="Convert the hour that just ended (Firehose has flushed it by then)",
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.job.ref)])
        self.compaction_trigger = glue.CfnTrigger(
            self, "CompactionSchedule", type="SCHEDULED", schedule=COMPACTION_SCHEDULE,
            start_on_creation=True,
            description="Compact the day before, once its last raw hour has been converted",
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.compaction_job.ref)])

        self.workgroup = athena.CfnWorkGroup(
            self, "WorkGroup", name=name_prefix, recursive_delete_option=True,
            description="crypto-live queries; results encrypted under athena-results/",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=RESULTS_CUTOFF_BYTES,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{bucket.bucket_name}/{layout.ATHENA_RESULTS_PREFIX}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"))))
        self.workgroup.apply_removal_policy(removal_policy)
        for query_id, name, sql in (
                ("LatestPrices", "latest price per symbol", LATEST_PRICES),
                ("MinuteOhlc", "1-minute OHLC per symbol", MINUTE_OHLC),
                ("Candles", "1-minute candles per symbol (candles_1m)", CANDLES_QUERY),
                ("Gaps", "gaps in the data per symbol (coverage)", GAPS_QUERY)):
            athena.CfnNamedQuery(
                self, query_id, name=name, database=database_name,
                work_group=self.workgroup.ref,  # a Ref: created after the workgroup
                query_string=sql.format(database=database_name, table=catalog.CURATED_TABLE))

    def _job(self, construct_id: str, *, name: str, script: Path, role: iam.IRole,
             description: str, timeout: int, max_concurrent_runs: int,
             arguments: dict[str, str]) -> glue.CfnJob:
        """A Python shell job running one entry script of ``glue_jobs/``."""
        job = glue.CfnJob(
            self, construct_id,
            name=name,
            description=description,
            role=role.role_arn,
            command=glue.CfnJob.JobCommandProperty(
                name="pythonshell", python_version="3.9",
                script_location=f"s3://{self.scripts.bucket_name}/{SCRIPTS_PREFIX}{script.name}"),
            glue_version="3.0",
            max_capacity=JOB_CAPACITY_DPU,
            timeout=timeout,
            max_retries=1,  # both are safe to rerun: a rerun finds its work done
            execution_property=glue.CfnJob.ExecutionPropertyProperty(
                max_concurrent_runs=max_concurrent_runs),
            default_arguments=arguments,
            security_configuration=self.security_configuration.security_configuration_name,
        )
        acknowledge(job, "GL1", "The job's security configuration encrypts its S3 writes; "
                    "CloudWatch Logs encryption would need a customer-managed key, and the "
                    "job's logs keep CloudWatch Logs' default encryption at rest")
        acknowledge(job, "GL3", "Python shell jobs have no job bookmarks to encrypt; each "
                    "run is told its hour or day")
        return job

    def _table(self, table_input: dict[str, Any]) -> glue.CfnTable:
        """A table from `miniticker.catalog`'s definition, whose keys are CloudFormation's own."""
        name = table_input["Name"]
        table = glue.CfnTable(
            self, name.title().replace("_", ""), catalog_id=Aws.ACCOUNT_ID,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(name=name))
        table.add_property_override("TableInput", table_input)
        return table

    def table_arn(self, table: str) -> str:
        return (f"arn:{Aws.PARTITION}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}:table/"
                f"{self.database_name}/{table}")

    @property
    def catalog_arns(self) -> list[str]:
        """What reading, registering and moving partitions of the curated tables touches (the
        catalog, the database, the three tables)."""
        base = f"arn:{Aws.PARTITION}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        return [f"{base}:catalog", f"{base}:database/{self.database_name}",
                *(self.table_arn(name) for name in self.curated_tables)]

    @property
    def roles(self) -> tuple[iam.Role, iam.Role]:
        """The hourly job's role and the compaction job's."""
        return self.job_role, self.compaction_role

    @property
    def jobs(self) -> tuple[glue.CfnJob, glue.CfnJob]:
        """The hourly job and the compaction job."""
        return self.job, self.compaction_job

    def _grant_job_resources(self, role: iam.Role) -> None:
        """A job's own files, the curated tables in the catalog, and Glue's log groups."""
        self.scripts.grant_read(role)
        role.add_to_policy(iam.PolicyStatement(actions=list(GLUE_CATALOG_ACTIONS),
                                               resources=self.catalog_arns))
        log_groups = (f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:"
                      f"{GLUE_LOG_GROUPS}*")
        role.add_to_policy(iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_groups]))
        acknowledge(role, "IAM5", "The job reads its own scripts and wheels (the grant's "
                    "action groups limited to the scripts bucket) and logs to Glue's Python "
                    "shell log groups, which Glue names and creates on first use",
                    *GRANT_ACTIONS, arn_finding(self.scripts, "/*"),
                    "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"
                    f"log-group:{GLUE_LOG_GROUPS}*")
