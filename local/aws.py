"""moto's server on loopback as the local AWS, set up like the CDK stack (docs/architecture.md §4).

The names come from the stack's settings for environment ``local``; the Glue tables take their
columns from the contract, as the CDK app's do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from ingest.stream_secret import secret_value
from lambdas.consumer.items import KEY_SCHEMA
from miniticker import catalog
from stacks.settings import Settings

from . import moto_patches

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
               "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}


@dataclass
class LocalAws:
    endpoint: str
    settings: Settings
    bucket: str
    server: ThreadedMotoServer

    @classmethod
    def start(cls, settings: Settings) -> LocalAws:
        moto_patches.apply()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        local = cls(f"http://{host}:{port}", settings, f"{settings.stack_name}-data", server)
        local._create_resources()
        return local

    def stop(self) -> None:
        self.server.stop()

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id="local", aws_secret_access_key="local")

    @property
    def environment(self) -> dict[str, str]:
        """What a child process needs to reach this AWS through the standard variables."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def _create_resources(self) -> None:
        settings = self.settings
        self.client("s3").create_bucket(Bucket=self.bucket)
        dynamodb = self.client("dynamodb")
        dynamodb.create_table(
            TableName=settings.table_name, BillingMode="PAY_PER_REQUEST", **KEY_SCHEMA)
        kinesis = self.client("kinesis")
        kinesis.create_stream(StreamName=settings.stream_name, ShardCount=settings.shard_count)
        kinesis.get_waiter("stream_exists").wait(StreamName=settings.stream_name,
                                                 WaiterConfig={"Delay": 0.1})
        self.client("secretsmanager").create_secret(
            Name=settings.secret_name, SecretString=secret_value(settings.streams))
        glue = self.client("glue")
        glue.create_database(DatabaseInput={"Name": settings.database_name})
        for table in catalog.curated_table_inputs(f"s3://{self.bucket}/"):
            glue.create_table(DatabaseName=settings.database_name, TableInput=table)
