#!/usr/bin/env python3
"""The crypto-live CDK app: `npx cdk synth` / `npx cdk deploy` (settings: cdk.json context)."""

from __future__ import annotations

import os

import aws_cdk as cdk

from stacks import nag
from stacks.crypto_live_stack import CryptoLiveStack
from stacks.settings import Settings


def build(app: cdk.App) -> CryptoLiveStack:
    settings = Settings.from_context(app.node)
    return CryptoLiveStack(
        app,
        settings.stack_name,
        settings=settings,
        # Account and region come from the deploying credentials; none are kept in the repo.
        env=cdk.Environment(
            account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
            region=os.environ.get("CDK_DEFAULT_REGION"),
        ),
        description=f"crypto-live ({settings.env_name}): live Binance mini-ticker pipeline",
    )


if __name__ == "__main__":
    app = cdk.App()
    build(app)
    nag.check(app)  # an unacknowledged cdk-nag finding stops synthesis
    app.synth()
