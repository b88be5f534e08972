"""The resources each construct defines, property by property (aws_cdk.assertions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from app import build
from miniticker import layout
from stacks.settings import SettingsError


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
    return only(template, "AWS::S3::Bucket", LoggingConfiguration=Match.any_value())


def test_the_data_bucket_is_private_encrypted_and_ages_raw_data(template: Template):
    bucket = data_bucket(template)
    properties = bucket["Properties"]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True}
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    rules = {rule["Id"]: rule for rule in properties["LifecycleConfiguration"]["Rules"]}
    assert rules["raw-ages-then-expires"]["Prefix"] == layout.RAW_PREFIX
    assert rules["raw-ages-then-expires"]["Transitions"] == [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]
    assert rules["raw-ages-then-expires"]["ExpirationInDays"] == 365
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 7}
    assert rules["athena-results-expire"]["Prefix"] == layout.ATHENA_RESULTS_PREFIX
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
    assert "Prices" in str(variables["TABLE_NAME"])  # a reference to the table's name
    assert (variables["RETENTION_DAYS"], variables["PRICE_METRICS"],
            variables["POWERTOOLS_SERVICE_NAME"], variables["POWERTOOLS_METRICS_NAMESPACE"]) == (
        "1", "true", "consumer", "CryptoLive")
    (layer,) = properties["Layers"]
    parameters = template.to_json()["Parameters"]
    (name,) = [k for k in parameters if k in str(layer)]
    assert parameters[name]["Default"] == "/aws/service/powertools/python/arm64/python3.14/3.37.0"

    mapping = only(template, "AWS::Lambda::EventSourceMapping")["Properties"]
    assert mapping["BatchSize"] == 100
    assert mapping["MaximumBatchingWindowInSeconds"] == 5
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["MaximumRetryAttempts"] == 3
    assert mapping["MaximumRecordAgeInSeconds"] == 3600
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert "OnFailure" in mapping["DestinationConfig"]
    queue = only(template, "AWS::SQS::Queue")["Properties"]
    assert queue["SqsManagedSseEnabled"] is True


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


def test_the_consumer_may_only_batch_write_its_table(template: Template):
    policies = template.find_resources("AWS::IAM::Policy")
    statements = [s for p in policies.values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert not [s for s in statements if s["Action"] == "*" or "*" in s["Action"]]
    dynamodb = [s for s in statements if "dynamodb" in str(s["Action"])]
    assert len(dynamodb) == 1
    assert dynamodb[0]["Action"] == "dynamodb:BatchWriteItem"
    assert "Prices" in str(dynamodb[0]["Resource"])


@pytest.mark.parametrize(("context", "words"), [
    ({"retention_days": 0}, "crypto-live:retention-days=0: must be 1..3650"),
    ({"retention_days": "two"}, "crypto-live:retention-days='two' is not a whole number"),
    ({"stream_mode": "fast"}, "crypto-live:stream-mode='fast': unknown"),
    ({"removal_policy": "keep"}, "crypto-live:removal-policy='keep': unknown"),
    ({"raw_transition_days": 10}, "crypto-live:raw-transition-days=10"),
    ({"raw_expiration_days": 20}, "crypto-live:raw-expiration-days=20"),
    ({"point_in_time_recovery": "yes"}, "neither true nor false"),
    ({"consumer_batch_size": 20_000}, "crypto-live:consumer-batch-size=20000"),
])
def test_bad_resource_settings_name_the_key(context: dict[str, Any], words: str):
    with pytest.raises(SettingsError) as caught:
        synth(**context)
    assert words in str(caught.value)
