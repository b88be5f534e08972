"""The Secrets Manager secret naming the Binance streams the ingester reads
(docs/architecture.md §2.5); its document is `ingest.stream_secret`'s."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import RemovalPolicy, SecretValue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from ingest.stream_secret import secret_value

from . import checkov
from .nag import acknowledge


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
        checkov.skip(self.secret, "CKV_AWS_149", "The secret holds the list of public Binance "
                     "streams to subscribe to, no credential; Secrets Manager encrypts it with "
                     "its AWS managed key, and a customer-managed key would protect nothing "
                     "more")

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Reading the stream list (the ingester, at start)."""
        return self.secret.grant_read(grantee)
