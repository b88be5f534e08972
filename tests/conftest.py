"""Shared fixtures: moto's server on loopback stands in for AWS (no account, no internet)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from lambdas.consumer.items import KEY_SCHEMA
from miniticker.catalog import curated_table_inputs

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server for the session; tests keep to resources they name themselves."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 at the moto server through the standard variables only."""
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


@pytest.fixture
def dynamodb(aws: str) -> Any:
    return boto3.client("dynamodb")


@pytest.fixture
def table(dynamodb: Any) -> Iterator[str]:
    """A hot table of the test's own, with the stack's key schema."""
    name = f"miniticker-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **KEY_SCHEMA)
    yield name
    dynamodb.delete_table(TableName=name)


@pytest.fixture
def secretsmanager(aws: str) -> object:
    return boto3.client("secretsmanager")


@pytest.fixture
def s3(aws: str) -> Any:
    return boto3.client("s3")


@pytest.fixture
def glue(aws: str) -> Any:
    return boto3.client("glue")


@pytest.fixture
def bucket(s3: Any) -> str:
    """A bucket of the test's own."""
    name = f"crypto-live-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def catalog(glue: Any, bucket: str) -> str:
    """A database of the test's own holding the three curated tables as the CDK app defines
    them, over ``bucket``; its name."""
    database = f"db_{uuid.uuid4().hex[:8]}"
    glue.create_database(DatabaseInput={"Name": database})
    for table in curated_table_inputs(f"s3://{bucket}/"):
        glue.create_table(DatabaseName=database, TableInput=table)
    return database
