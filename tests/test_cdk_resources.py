"""The resources each construct defines, property by property (aws_cdk.assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from app import build
from ingest.metric_names import MetricName as IngestMetric
from lambdas.api.observability import MetricName as ApiMetric
from lambdas.consumer import settings as consumer_settings
from lambdas.consumer.metric_names import MetricName as ConsumerMetric
from miniticker import FIELDS, POPULAR_SYMBOLS, catalog, layout
from miniticker.kinesis_record import WHOLE_MARKET_EVENTS_PER_SECOND
from stacks import catalog_etl, defaults, monitoring
from stacks.packaging import pinned_version
from stacks.queries import CANDLES_QUERY, GAPS_QUERY
from stacks.settings import Settings, SettingsError

REPO = Path(__file__).resolve().parents[1]


def synth(**context: Any) -> Template:
    app = cdk.App(context={f"crypto-live:{k.replace('_', '-')}": v for k, v in context.items()})
    return Template.from_stack(build(app))


@pytest.fixture(scope="module")
def template() -> Template:
    return synth()


def only(template: Template, kind: str, **where: Any) -> dict[str, Any]:
    found = template.find_resources(kind, {"Properties": Match.object_like(where)} if where
                                    else None)
    assert len(found) == 1, f"{len(found)} {kind} matching {where}"
    (resource,) = found.values()
    return dict(resource)


def data_bucket(template: Template) -> dict[str, Any]:
    return only(template, "AWS::S3::Bucket", LoggingConfiguration={
        "DestinationBucketName": Match.any_value(), "LogFilePrefix": "data/"})


def assert_private_and_encrypted(properties: dict[str, Any]) -> None:
    """A bucket's properties block all public access and encrypt with S3-managed keys."""
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True}
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_the_data_bucket_is_private_encrypted_and_ages_raw_data(template: Template):
    bucket = data_bucket(template)
    properties = bucket["Properties"]
    assert_private_and_encrypted(properties)
    rules = {rule["Id"]: rule for rule in properties["LifecycleConfiguration"]["Rules"]}
    assert rules["raw-ages-then-expires"]["Prefix"] == layout.RAW_PREFIX
    assert rules["raw-ages-then-expires"]["Transitions"] == [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]
    assert rules["raw-ages-then-expires"]["ExpirationInDays"] == 365
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 7}
    assert rules["athena-results-expire"]["Prefix"] == layout.ATHENA_RESULTS_PREFIX
    # Versioned: what an overwrite or a delete replaced is kept a while, then expires.
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert rules["noncurrent-versions-expire"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": defaults.NONCURRENT_VERSION_DAYS}
    assert rules["noncurrent-versions-expire"]["ExpiredObjectDeleteMarker"] is True
    assert bucket["DeletionPolicy"] == "Retain"
    # TLS only: a Deny for aws:SecureTransport false on the bucket's policy.
    policies = template.find_resources("AWS::S3::BucketPolicy")
    statements = [s for p in policies.values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}} for s in statements)


def test_lifecycle_and_removal_come_from_context():
    template = synth(raw_transition_days=60, raw_expiration_days=90, removal_policy="destroy")
    bucket = data_bucket(template)
    rules = {rule["Id"]: rule for rule in
             bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["raw-ages-then-expires"]["Transitions"][0]["TransitionInDays"] == 60
    assert rules["raw-ages-then-expires"]["ExpirationInDays"] == 90
    assert bucket["DeletionPolicy"] == "Delete"
    # An emptied bucket can be deleted: CDK's auto-delete custom resource is there.
    assert template.find_resources("Custom::S3AutoDeleteObjects")


def test_the_table_has_the_key_ttl_and_recovery(template: Template):
    table = only(template, "AWS::DynamoDB::Table")
    properties = table["Properties"]
    assert properties["TableName"] == "crypto-live-dev-miniticker"
    assert properties["KeySchema"] == [
        {"AttributeName": "stream_type", "KeyType": "HASH"},
        {"AttributeName": "iso_timestamp", "KeyType": "RANGE"}]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at",
                                                     "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert table["DeletionPolicy"] == "Retain"
    off = only(synth(point_in_time_recovery=False), "AWS::DynamoDB::Table")
    assert off["Properties"]["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": False}


def test_the_stream_is_encrypted_with_its_capacity_from_context(template: Template):
    stream = only(template, "AWS::Kinesis::Stream")["Properties"]
    assert stream["Name"] == "crypto-live-dev-miniticker"
    assert stream["StreamEncryption"] == {"EncryptionType": "KMS",
                                          "KeyId": "alias/aws/kinesis"}
    assert stream["ShardCount"] == 1
    assert stream["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert stream["RetentionPeriodHours"] == 24
    on_demand = only(synth(stream_mode="on-demand"), "AWS::Kinesis::Stream")["Properties"]
    assert on_demand["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert "ShardCount" not in on_demand
    assert only(synth(shard_count=4), "AWS::Kinesis::Stream")["Properties"]["ShardCount"] == 4


def test_firehose_archives_the_stream_as_gzip_json_lines_by_hour(template: Template):
    delivery = only(template, "AWS::KinesisFirehose::DeliveryStream")["Properties"]
    assert delivery["DeliveryStreamType"] == "KinesisStreamAsSource"
    s3 = delivery["ExtendedS3DestinationConfiguration"]
    assert s3["Prefix"] == "raw/miniticker/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
    assert s3["ErrorOutputPrefix"].startswith(layout.RAW_ERRORS_PREFIX)
    assert s3["CompressionFormat"] == "GZIP"
    assert s3["BufferingHints"] == {"IntervalInSeconds": 300, "SizeInMBs": 16}
    assert s3["CloudWatchLoggingOptions"]["Enabled"] is True
    assert "ProcessingConfiguration" not in s3  # records are JSON lines already
    tuned = only(synth(firehose_buffer_mb=64, firehose_buffer_seconds=60),
                 "AWS::KinesisFirehose::DeliveryStream")["Properties"]
    assert tuned["ExtendedS3DestinationConfiguration"]["BufferingHints"] == {
        "IntervalInSeconds": 60, "SizeInMBs": 64}


def test_the_consumer_function_and_its_event_source_mapping(template: Template):
    function = only(template, "AWS::Lambda::Function", Handler="consumer.handler.handler")
    properties = function["Properties"]
    assert properties["Runtime"] == "python3.14"
    assert properties["Architectures"] == ["arm64"]
    assert properties["TracingConfig"] == {"Mode": "Active"}
    variables = properties["Environment"]["Variables"]
    assert "Prices" in str(variables[consumer_settings.TABLE_NAME])  # a reference to the table
    # Everything else is what the consumer's own settings module makes of the defaults.
    expected = consumer_settings.environment("table", Settings.retention_days,
                                             Settings.price_metrics,
                                             Settings.hot_table_resolution_seconds)
    del expected[consumer_settings.TABLE_NAME]
    assert {k: v for k, v in variables.items() if k != consumer_settings.TABLE_NAME} == expected
    assert consumer_settings.load({**variables, consumer_settings.TABLE_NAME: "t"}) == (
        "t", 1, True, 0)
    (layer,) = properties["Layers"]
    parameters = template.to_json()["Parameters"]
    (name,) = [k for k in parameters if k in str(layer)]
    assert parameters[name]["Default"] == "/aws/service/powertools/python/arm64/python3.14/3.37.0"

    mapping = only(template, "AWS::Lambda::EventSourceMapping")["Properties"]
    assert mapping["BatchSize"] == Settings.consumer_batch_size
    assert mapping["MaximumBatchingWindowInSeconds"] == Settings.consumer_batching_window_seconds
    assert mapping["ParallelizationFactor"] == Settings.consumer_parallelization_factor
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["MaximumRetryAttempts"] == 3
    assert mapping["MaximumRecordAgeInSeconds"] == 3600
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert "OnFailure" in mapping["DestinationConfig"]
    queue = only(template, "AWS::SQS::Queue")["Properties"]
    assert queue["KmsMasterKeyId"] == "alias/aws/sqs"  # the AWS managed key of SQS


def test_the_consumer_settings_come_from_context():
    template = synth(consumer_batch_size=40, consumer_batching_window_seconds=1,
                     consumer_parallelization_factor=4, hot_table_resolution_seconds=60)
    mapping = only(template, "AWS::Lambda::EventSourceMapping")["Properties"]
    assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"],
            mapping["ParallelizationFactor"]) == (40, 1, 4)
    function = only(template, "AWS::Lambda::Function", Handler="consumer.handler.handler")
    variables = function["Properties"]["Environment"]["Variables"]
    assert consumer_settings.load({**variables, consumer_settings.TABLE_NAME: "t"}
                                  ).resolution_seconds == 60


def test_the_consumer_ships_its_package_and_the_contract():
    app = cdk.App(context={"aws:cdk:enable-asset-metadata": True})
    stack = build(app)
    assembly = app.synth()
    template = assembly.get_stack_artifact(stack.artifact_id).template
    (function,) = [r for r in template["Resources"].values()
                   if r["Type"] == "AWS::Lambda::Function"
                   and r["Properties"].get("Handler") == "consumer.handler.handler"]
    asset = function["Metadata"]["aws:asset:path"]
    root = Path(assembly.directory, asset)
    shipped = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py"))
    assert "consumer/handler.py" in shipped
    assert "miniticker/record.py" in shipped
    assert not [p for p in shipped if "test" in p]


def test_the_consumer_may_only_write_and_batch_get_items_of_its_table(template: Template):
    policies = template.find_resources("AWS::IAM::Policy")
    statements = [s for p in policies.values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert not [s for s in statements if s["Action"] == "*" or "*" in s["Action"]]
    function = only(template, "AWS::Lambda::Function", Handler="consumer.handler.handler")
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    dynamodb = [s for p in policies.values() if {"Ref": role} in p["Properties"]["Roles"]
                for s in p["Properties"]["PolicyDocument"]["Statement"]
                if "dynamodb" in str(s["Action"])]
    assert len(dynamodb) == 1
    # What lambdas/consumer calls: batch_write_item, batch_get_item, put_item; nothing else
    # (no Scan, Query, UpdateItem or DeleteItem, no table management).
    assert sorted(dynamodb[0]["Action"]) == [
        "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:PutItem"]
    assert "Prices" in str(dynamodb[0]["Resource"])
    # Every other role that touches DynamoDB is the read API's (tests/test_cdk_web.py).
    readers = [s for s in statements if "dynamodb" in str(s["Action"]) and s not in dynamodb]
    assert [sorted(s["Action"]) for s in readers] == [["dynamodb:GetItem", "dynamodb:Query"]]


@pytest.mark.parametrize(("context", "words"), [
    ({"retention_days": 0}, "crypto-live:retention-days=0: must be 1..3650"),
    ({"retention_days": "two"}, "crypto-live:retention-days='two' is not a whole number"),
    ({"stream_mode": "fast"}, "crypto-live:stream-mode='fast': unknown"),
    ({"removal_policy": "keep"}, "crypto-live:removal-policy='keep': unknown"),
    ({"raw_transition_days": 10}, "crypto-live:raw-transition-days=10"),
    ({"raw_expiration_days": 20}, "crypto-live:raw-expiration-days=20"),
    ({"point_in_time_recovery": "yes"}, "neither true nor false"),
    ({"consumer_batch_size": 20_000}, "crypto-live:consumer-batch-size=20000"),
    ({"consumer_batch_size": 0}, "crypto-live:consumer-batch-size=0: must be 1..10000"),
    ({"consumer_parallelization_factor": 0},
     "crypto-live:consumer-parallelization-factor=0: must be 1..10"),
    ({"consumer_parallelization_factor": 11},
     "crypto-live:consumer-parallelization-factor=11: must be 1..10"),
    ({"consumer_parallelization_factor": "two"},
     "crypto-live:consumer-parallelization-factor='two' is not a whole number"),
    ({"hot_table_resolution_seconds": -1},
     "crypto-live:hot-table-resolution-seconds=-1: must be 0..3600"),
    ({"hot_table_resolution_seconds": 3601},
     "crypto-live:hot-table-resolution-seconds=3601: must be 0..3600"),
    ({"hot_table_resolution_seconds": "1m"},
     "crypto-live:hot-table-resolution-seconds='1m' is not a whole number"),
    ({"database_name": "crypto-live"}, "crypto-live:database-name='crypto-live'"),
    ({"etl_schedule": "hourly"}, "crypto-live:etl-schedule='hourly'"),
])
def test_bad_resource_settings_name_the_key(context: dict[str, Any], words: str):
    with pytest.raises(SettingsError) as caught:
        synth(**context)
    assert words in str(caught.value)


def columns_of(table: dict[str, Any]) -> list[tuple[str, str]]:
    descriptor = table["Properties"]["TableInput"]["StorageDescriptor"]
    return [(c["Name"], c["Type"]) for c in descriptor["Columns"]]


def test_the_glue_tables_take_their_columns_from_the_contract(template: Template):
    curated = only(template, "AWS::Glue::Table", TableInput=Match.object_like(
        {"Name": "miniticker"}))
    raw = only(template, "AWS::Glue::Table", TableInput=Match.object_like(
        {"Name": "raw_miniticker"}))
    kinds = {f.name: f.kind for f in FIELDS}
    assert [name for name, _ in columns_of(curated)] == [
        f.name for f in FIELDS if f.name != "symbol"]
    assert {name: hive for name, hive in columns_of(curated)} == {
        name: {"TEXT": "string", "EPOCH_MILLIS": "timestamp", "DECIMAL": "decimal(38,8)"}[
            kinds[name].name] for name, _ in columns_of(curated)}
    assert [k["Name"] for k in curated["Properties"]["TableInput"]["PartitionKeys"]] == [
        "dt", "symbol"]
    assert curated["Properties"]["TableInput"]["StorageDescriptor"]["SerdeInfo"][
        "SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert [name for name, _ in columns_of(raw)] == [f.name for f in FIELDS]
    raw_input = raw["Properties"]["TableInput"]
    assert raw_input["Parameters"]["projection.enabled"] == "true"
    assert raw_input["Parameters"]["projection.hour.range"] == "0,23"
    assert [k["Name"] for k in raw_input["PartitionKeys"]] == ["dt", "hour"]
    assert raw_input["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == (
        "org.openx.data.jsonserde.JsonSerDe")
    database = only(template, "AWS::Glue::Database")["Properties"]["DatabaseInput"]
    assert database["Name"] == "crypto_live_dev"


@pytest.mark.parametrize(("name", "prefix", "columns"), [
    (catalog.CANDLES_TABLE, layout.CANDLES_PREFIX, catalog.CANDLES_COLUMNS),
    (catalog.COVERAGE_TABLE, layout.COVERAGE_PREFIX, catalog.COVERAGE_COLUMNS)])
def test_the_derived_tables_take_their_columns_from_the_catalog_module(
        template: Template, name: str, prefix: str, columns: tuple[catalog.Column, ...]):
    table = only(template, "AWS::Glue::Table", TableInput=Match.object_like({"Name": name}))
    assert columns_of(table) == [(c.name, c.glue_type) for c in columns]
    table_input = table["Properties"]["TableInput"]
    assert [k["Name"] for k in table_input["PartitionKeys"]] == ["dt", "symbol"]
    assert prefix in json.dumps(table_input["StorageDescriptor"]["Location"])
    assert "projection.enabled" not in table_input["Parameters"]  # the catalog's locations


def jobs(template: Template) -> dict[str, dict[str, Any]]:
    """The Glue jobs' properties by the script they run."""
    found = {}
    for job in template.find_resources("AWS::Glue::Job").values():
        properties = job["Properties"]
        location = properties["Command"]["ScriptLocation"]["Fn::Join"][1]
        found[location[-1].rsplit("/", 1)[-1]] = properties
    return found


def test_the_glue_jobs_run_the_repository_scripts_on_schedules(template: Template):
    found = jobs(template)
    assert sorted(found) == ["compact_day.py", "raw_to_parquet.py"]
    hourly, daily = found["raw_to_parquet.py"], found["compact_day.py"]
    assert hourly["Name"] == "crypto-live-dev-raw-to-parquet"
    assert daily["Name"] == "crypto-live-dev-compact-day"
    assert hourly["ExecutionProperty"] == {"MaxConcurrentRuns": 4}
    assert daily["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
    for job in (hourly, daily):
        assert job["Command"]["Name"] == "pythonshell"
        assert job["Command"]["PythonVersion"] == "3.9"
        assert job["MaxCapacity"] == 0.0625
        arguments = job["DefaultArguments"]
        assert arguments["library-set"] == "analytics"
        assert arguments["--additional-python-modules"] == (
            f"pyarrow=={pinned_version(REPO / 'requirements.txt', 'pyarrow')},"
            f"boto3=={pinned_version(catalog_etl.GLUE_REQUIREMENTS, 'boto3')}")
        assert arguments["--database"] == "crypto_live_dev"
        wheels = json.dumps(arguments["--extra-py-files"])
        assert "/glue/miniticker-1-py3-none-any.whl,s3://" in wheels
        assert wheels.endswith('/glue/curation-1-py3-none-any.whl"]]}')
    assert daily["Role"] != hourly["Role"]
    # Both run under one security configuration: what Glue writes to S3 for them is SSE-S3.
    (configuration_id, configuration), = template.find_resources(
        "AWS::Glue::SecurityConfiguration").items()
    assert configuration["Properties"]["EncryptionConfiguration"] == {
        "S3Encryptions": [{"S3EncryptionMode": "SSE-S3"}]}
    assert hourly["SecurityConfiguration"] == daily["SecurityConfiguration"] == {
        "Ref": configuration_id}
    triggers = {json.dumps(t["Properties"]["Actions"]): t["Properties"]
                for t in template.find_resources("AWS::Glue::Trigger").values()}
    assert len(triggers) == 2
    schedules = sorted((t["Type"], t["Schedule"], t["StartOnCreation"]) for t in triggers.values())
    assert schedules == [("SCHEDULED", "cron(15 * * * ? *)", True),
                         ("SCHEDULED", catalog_etl.COMPACTION_SCHEDULE, True)]
    hourly_schedules = [t["Properties"]["Schedule"] for t in synth(
        etl_schedule="rate(2 hours)").find_resources("AWS::Glue::Trigger").values()]
    assert sorted(hourly_schedules) == sorted(["rate(2 hours)", catalog_etl.COMPACTION_SCHEDULE])


def test_the_job_files_hold_both_scripts_and_installable_wheels(tmp_path: Path):
    app = cdk.App(context={"aws:cdk:enable-asset-metadata": True})
    build(app)
    assembly = app.synth()
    wheels = list(Path(assembly.directory).rglob("miniticker-1-py3-none-any.whl"))
    assert wheels
    folder = wheels[0].parent
    assert sorted(p.name for p in folder.iterdir()) == [
        "compact_day.py", "curation-1-py3-none-any.whl", "miniticker-1-py3-none-any.whl",
        "raw_to_parquet.py"]
    for script in ("raw_to_parquet.py", "compact_day.py"):
        assert (folder / script).read_bytes() == (REPO / "glue_jobs" / script).read_bytes()
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(tmp_path / "site"), str(folder / "miniticker-1-py3-none-any.whl"),
         str(folder / "curation-1-py3-none-any.whl")],
        capture_output=True, text=True, check=False)
    assert installed.returncode == 0, installed.stderr
    site = str(tmp_path / "site")
    # Imported as Glue would: from the installed wheels only (isolated, not the repository).
    check = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {site!r})"
                            "; import miniticker.catalog, curation.compaction, curation.hourly"
                            "; print(miniticker.__file__, curation.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=False)
    assert check.stdout.count(site) == 2, check.stderr


def test_athena_enforces_encrypted_results_and_keeps_the_named_queries(template: Template):
    workgroup = only(template, "AWS::Athena::WorkGroup")["Properties"]
    configuration = workgroup["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["ResultConfiguration"]["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_S3"}
    assert layout.ATHENA_RESULTS_PREFIX in str(configuration["ResultConfiguration"])
    queries = {q["Properties"]["Name"]: q["Properties"]["QueryString"]
               for q in template.find_resources("AWS::Athena::NamedQuery").values()}
    assert sorted(queries) == ["1-minute OHLC per symbol", "1-minute candles per symbol "
                               "(candles_1m)", "gaps in the data per symbol (coverage)",
                               "latest price per symbol"]
    for name in ("1-minute OHLC per symbol", "latest price per symbol"):
        assert '"crypto_live_dev"."miniticker"' in queries[name]
    assert queries["1-minute candles per symbol (candles_1m)"] == CANDLES_QUERY.format(
        database="crypto_live_dev")
    assert queries["gaps in the data per symbol (coverage)"] == GAPS_QUERY.format(
        database="crypto_live_dev")
    assert '"crypto_live_dev"."candles_1m"' in queries["1-minute candles per symbol (candles_1m)"]
    assert '"crypto_live_dev"."coverage"' in queries["gaps in the data per symbol (coverage)"]


def role_statements(template: Template, role_id: str) -> list[dict[str, Any]]:
    return [s for p in template.find_resources("AWS::IAM::Policy").values()
            if {"Ref": role_id} in p["Properties"]["Roles"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]]


def test_the_job_roles_read_and_write_only_their_own_prefixes(template: Template):
    roles = template.find_resources("AWS::IAM::Role", {"Properties": Match.object_like({
        "AssumeRolePolicyDocument": Match.object_like({"Statement": [Match.object_like({
            "Principal": {"Service": "glue.amazonaws.com"}})]})})})
    found = jobs(template)
    by_script = {script: job["Role"]["Fn::GetAtt"][0] for script, job in found.items()}
    assert sorted(by_script.values()) == sorted(roles)
    curation = (layout.CURATED_PREFIX, layout.CANDLES_PREFIX, layout.COVERAGE_PREFIX,
                layout.MANIFEST_PREFIX)
    for script, extra_writes, reads_raw in (
            ("raw_to_parquet.py", (layout.QUARANTINE_PREFIX,), True),
            ("compact_day.py", (), False)):
        statements = role_statements(template, by_script[script])
        writes = [s for s in statements if "s3:PutObject" in s["Action"]]
        written = sorted(r["Fn::Join"][1][-1] for s in writes for r in s["Resource"]
                         if "Fn::Join" in r)
        assert written == sorted(f"/{prefix}*" for prefix in (*curation, *extra_writes))
        # Deleting: superseded hourly files, retired generations, the day lock.
        assert all("s3:DeleteObject*" in s["Action"] for s in writes)
        read = json.dumps([s["Resource"] for s in statements
                           if "s3:GetObject*" in s["Action"] and s not in writes])
        assert (f"/{layout.RAW_PREFIX}*" in read) is reads_raw
        assert layout.RAW_PREFIX not in json.dumps([s["Resource"] for s in writes])
        (glue_statement,) = [s for s in statements if "glue:" in str(s["Action"])]
        assert glue_statement["Action"] == [
            "glue:GetTable", "glue:BatchGetPartition", "glue:BatchCreatePartition",
            "glue:BatchUpdatePartition"]
        resources = json.dumps(glue_statement["Resource"])
        for table in (catalog.CURATED_TABLE, catalog.CANDLES_TABLE, catalog.COVERAGE_TABLE):
            assert f"table/crypto_live_dev/{table}" in resources
        assert catalog.RAW_TABLE not in resources
        assert len(glue_statement["Resource"]) == 5  # catalog, database, three tables


def test_the_ingest_task_is_one_small_arm64_fargate_task(template: Template):
    task = only(template, "AWS::ECS::TaskDefinition")["Properties"]
    assert task["RuntimePlatform"] == {"CpuArchitecture": "ARM64",
                                       "OperatingSystemFamily": "LINUX"}
    assert (task["Cpu"], task["Memory"]) == ("256", "512")
    (container,) = task["ContainerDefinitions"]
    assert container["StopTimeout"] == 60
    assert container["HealthCheck"]["Command"] == [
        "CMD", "python", "-m", "ingest.healthcheck", "--max-age", "30"]
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment["FLUSH_TIMEOUT_SECONDS"] == "45"  # inside the stop timeout
    assert {"BINANCE_SECRET_ID", "KINESIS_STREAM_NAME"} <= set(environment)
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    service = only(template, "AWS::ECS::Service")["Properties"]
    assert service["DesiredCount"] == 1
    assert service["LaunchType"] == "FARGATE"
    deployment = service["DeploymentConfiguration"]
    assert (deployment["MinimumHealthyPercent"], deployment["MaximumPercent"]) == (100, 200)
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "ENABLED"
    cluster = only(template, "AWS::ECS::Cluster")["Properties"]
    assert cluster["ClusterSettings"] == [{"Name": "containerInsights", "Value": "enabled"}]


def test_the_network_has_no_nat_gateway_and_takes_nothing_in(template: Template):
    assert not template.find_resources("AWS::EC2::NatGateway")
    subnets = template.find_resources("AWS::EC2::Subnet")
    assert all(s["Properties"]["MapPublicIpOnLaunch"] for s in subnets.values())
    group = only(template, "AWS::EC2::SecurityGroup")["Properties"]
    assert "SecurityGroupIngress" not in group
    assert [rule["CidrIp"] for rule in group["SecurityGroupEgress"]] == ["0.0.0.0/0"]
    assert only(template, "AWS::EC2::FlowLog")["Properties"]["TrafficType"] == "REJECT"


def test_the_ingest_role_may_put_records_and_read_its_secret_only(template: Template):
    (task,) = template.find_resources("AWS::ECS::TaskDefinition").values()
    role = task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    statements = [s for p in template.find_resources("AWS::IAM::Policy").values()
                  if {"Ref": role} in p["Properties"]["Roles"]
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    actions = sorted(a for s in statements for a in (
        s["Action"] if isinstance(s["Action"], list) else [s["Action"]]))
    assert "kinesis:PutRecords" in actions
    assert "secretsmanager:GetSecretValue" in actions
    assert not [a for a in actions if a.startswith(("dynamodb:", "s3:", "glue:"))]


def test_the_image_is_built_from_the_ingest_dockerfile_with_its_context_filter():
    app = cdk.App()
    stack = build(app)
    assembly = app.synth()
    manifest = json.loads(next(Path(assembly.directory).glob(
        f"{stack.artifact_id}.assets.json")).read_text())
    (image,) = manifest["dockerImages"].values()
    assert image["source"]["dockerFile"] == "ingest/Dockerfile"
    assert image["source"]["platform"] == "linux/arm64"
    context = Path(assembly.directory, image["source"]["directory"])
    shipped = sorted(p.relative_to(context).as_posix() for p in context.rglob("*")
                     if p.is_file())
    assert {"ingest/service.py", "miniticker/record.py"} <= set(shipped)
    assert {"ingest/Dockerfile", "ingest/Dockerfile.dockerignore", "constraints.txt"} <= set(
        shipped)
    assert not [p for p in shipped if p.startswith((".venv/", "tests/", "node_modules/"))]


def dashboard_body(template: Template, name: str) -> str:
    dashboard = only(template, "AWS::CloudWatch::Dashboard", DashboardName=name)
    return json.dumps(dashboard["Properties"]["DashboardBody"])


def test_alarms_cover_the_pipeline_and_notify_the_topic(template: Template):
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    by_metric = {}
    for alarm in alarms.values():
        properties = alarm["Properties"]
        assert properties["AlarmActions"]
        assert properties["OKActions"]
        assert "Ref" in json.dumps(properties["AlarmActions"])
        name = properties.get("MetricName") or json.dumps(properties.get("Metrics"))
        by_metric[name] = properties
    assert by_metric["IteratorAge"]["Threshold"] == 60_000
    assert by_metric["DeliveryToS3.DataFreshness"]["Threshold"] == 3 * 300 + 300
    assert by_metric["Errors"]["Threshold"] == 0
    assert by_metric["ApproximateNumberOfMessagesVisible"]["Threshold"] == 0
    no_events = by_metric["EventsPut"]
    assert (no_events["Namespace"], no_events["Period"], no_events["Threshold"],
            no_events["ComparisonOperator"], no_events["TreatMissingData"]) == (
        "CryptoLive", 600, 1, "LessThanThreshold", "breaching")
    running = by_metric["RunningTaskCount"]
    assert (running["Namespace"], running["ComparisonOperator"]) == (
        "ECS/ContainerInsights", "LessThanThreshold")
    expressions = [p for k, p in by_metric.items() if k.startswith("[")]
    assert any("WriteThrottleEvents" in json.dumps(p) for p in expressions)
    (backlog,) = [p for p in expressions if IngestMetric.BACKLOG in json.dumps(p)]
    assert_backlog_alarm(backlog, floor=monitoring.BACKLOG_FLOOR_SECONDS * len(POPULAR_SYMBOLS))
    assert any("TriggeredRules" in json.dumps(p) for p in expressions)  # Glue runs failing
    glue_rules = [r["Properties"]["EventPattern"]["detail"] for r in template.find_resources(
        "AWS::Events::Rule").values() if r["Properties"]["EventPattern"]["source"] == ["aws.glue"]]
    assert sorted(rule["state"][0] for rule in glue_rules) == ["FAILED", "SUCCEEDED", "TIMEOUT"]
    for rule in glue_rules:  # both jobs' runs
        assert len(rule["jobName"]) == 2
    (api,) = [p for p in expressions if ApiMetric.SERVER_ERRORS in json.dumps(p)]
    assert "Throttles" in json.dumps(api)
    assert "ApiFunction" in json.dumps(api)
    assert api["Threshold"] == monitoring.API_FAILURES_ALARM
    assert len(alarms) == 10  # nine for the pipeline, one for the read API (web layer on)
    topic = only(template, "AWS::SNS::Topic")["Properties"]
    assert "KmsMasterKeyId" in topic
    key = only(template, "AWS::KMS::Key")["Properties"]
    assert key["EnableKeyRotation"] is True
    assert "cloudwatch.amazonaws.com" in json.dumps(key["KeyPolicy"])
    assert not template.find_resources("AWS::SNS::Subscription")
    mailed = synth(alarm_email="ops@example.com", no_data_minutes=30)
    subscription = only(mailed, "AWS::SNS::Subscription")["Properties"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ops@example.com")
    assert only(mailed, "AWS::CloudWatch::Alarm", MetricName="EventsPut")[
        "Properties"]["Period"] == 1800


def assert_backlog_alarm(alarm: dict[str, Any], *, floor: int) -> None:
    """IngestBacklogGrowing: the Backlog's maximum a minute rose N minutes running above the
    floor; a minute without data is not growth."""
    (expression,) = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
    (metric,) = [m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m]
    assert (metric["Metric"]["MetricName"], metric["Metric"]["Namespace"], metric["Stat"],
            metric["Period"]) == (IngestMetric.BACKLOG, "CryptoLive", "Maximum", 60)
    assert expression == f"IF(DIFF(backlog) > 0 AND backlog > {floor}, 1, 0)"
    assert (alarm["EvaluationPeriods"], alarm["Threshold"], alarm["ComparisonOperator"],
            alarm["TreatMissingData"]) == (monitoring.BACKLOG_GROWING_PERIODS, 1,
                                           "GreaterThanOrEqualToThreshold", "notBreaching")
    assert alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"]) == alarm[
        "EvaluationPeriods"]


def test_the_backlog_floor_follows_the_stream_list():
    market = synth(streams=["!miniTicker@arr"])
    (alarm,) = [a["Properties"] for a in market.find_resources("AWS::CloudWatch::Alarm").values()
                if IngestMetric.BACKLOG in json.dumps(a["Properties"].get("Metrics"))]
    assert_backlog_alarm(alarm, floor=monitoring.BACKLOG_FLOOR_SECONDS
                         * WHOLE_MARKET_EVENTS_PER_SECOND)


def test_the_dashboards_chart_every_part_and_every_configured_symbol(template: Template):
    operations = dashboard_body(template, "crypto-live-dev-operations")
    for metric in ("EventsReceived", "EventsPut", "EventsSpilled", "Reconnects", "GapSeconds",
                   "MalformedFrames", "LagMilliseconds", "IncomingRecords",
                   "GetRecords.IteratorAgeMilliseconds", "DeliveryToS3.DataFreshness",
                   "DeliveryToS3.Success", "Invocations", "Errors", "Duration", "IteratorAge",
                   "WriteThrottleEvents", "ConsumedWriteCapacityUnits", "TriggeredRules",
                   "ApproximateNumberOfMessagesVisible", "RecordsIn", "EndToEndLatency",
                   IngestMetric.RECORDS_PUT, IngestMetric.PUT_FAILURES,
                   IngestMetric.THROTTLED_RECORDS, IngestMetric.BACKLOG, IngestMetric.PUT_LAG,
                   ConsumerMetric.EVENTS_IN, ConsumerMetric.INVALID_LINES):
        assert f'\\"{metric}\\"' in operations, metric
    assert '\\"InvalidRecords\\"' not in operations  # the consumer counts lines now
    # Throttling, failures and the backlog in one graph; the put lag beside the feed lag.
    throttling = operations[operations.index("Ingest to Kinesis"):]
    throttling = throttling[:throttling.index("title")]
    for metric in (IngestMetric.THROTTLED_RECORDS, IngestMetric.PUT_FAILURES,
                   IngestMetric.BACKLOG):
        assert metric in throttling, metric
    lags = operations[operations.index("Ingest lag"):]
    lags = lags[:lags.index("title")]
    for metric in (IngestMetric.LAG, IngestMetric.PUT_LAG):
        assert lags.count(f'\\"{metric}\\"') == 2, metric  # p50 and p99
    prices = dashboard_body(template, "crypto-live-dev-prices")
    for symbol in POPULAR_SYMBOLS:
        assert f"{symbol} close" in prices
    assert "SEARCH(" not in prices
    market = dashboard_body(synth(streams=["btcusdt@miniTicker", "!miniTicker@arr"]),
                            "crypto-live-dev-prices")
    assert "BTCUSDT close" in market
    assert "SEARCH(" in market  # the whole market cannot be listed: a search expression
    many = [f"s{index}usdt@miniTicker" for index in range(monitoring.MAX_PRICE_GRAPHS + 1)]
    listed = dashboard_body(synth(streams=many), "crypto-live-dev-prices")
    assert listed.count(" close\\\"") == monitoring.MAX_PRICE_GRAPHS
    assert "SEARCH(" in listed  # and one search for all of them


def test_every_name_an_operator_needs_is_an_output(template: Template):
    outputs = template.to_json()["Outputs"]
    for name in ("DataBucketName", "TableName", "StreamName", "ArchiveDeliveryStreamName",
                 "ConsumerFunctionName", "GlueJobName", "GlueCompactionJobName",
                 "GlueDatabaseName", "AthenaWorkGroup",
                 "OperationsDashboard", "PricesDashboard", "AlarmTopicArn",
                 "IngestClusterName", "IngestServiceName", "StreamConfigSecretName"):
        assert name in outputs, name
