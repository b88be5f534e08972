"""One stack per environment; it wires the constructs and holds no resource logic of its own."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from .settings import Settings
from .stream_config import StreamConfig


class CryptoLiveStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        stream_config = StreamConfig(
            self, "StreamConfig", secret_name=settings.secret_name, streams=settings.streams
        )
        CfnOutput(self, "StreamConfigSecretName", value=stream_config.secret.secret_name,
                  description="Secret holding {\"streams\": [...]} for the ingester")
