"""The Secrets Manager secret naming the Binance streams the ingester reads (DESIGN §2.5)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from aws_cdk import RemovalPolicy, SecretValue
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from .nag import acknowledge

#: Secrets Manager's limit on a secret's value.
SECRET_VALUE_BYTES = 65_536


def secret_value(streams: Sequence[str]) -> str:
    """The secret's value for a stream list: ``{"streams": [...]}``, as the ingester reads it."""
    return json.dumps({"streams": list(streams)})


class StreamConfig(Construct):
    """Holds ``{"streams": [...]}``; operators edit it, the ingester reads it at start.

    CloudFormation updates the secret only when the template's value changes, so an operator's
    edit survives later deploys until someone changes the configured stream list in code. The
    secret is retained on stack deletion by default: it holds an operator's configuration.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        secret_name: str,
        streams: Sequence[str],
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            secret_name=secret_name,
            description="crypto-live: Binance mini-ticker streams the ingester subscribes to",
            # A stream list is configuration, not a credential: plain text in the template is
            # deliberate, and lets reviewers see the default in `cdk diff`.
            secret_string_value=SecretValue.unsafe_plain_text(
                secret_value(streams)
            ),
            removal_policy=removal_policy,
        )
        acknowledge(self.secret, "SMG4", "The secret holds the list of Binance streams to "
                    "subscribe to, edited by operators; it is not a credential to rotate")
