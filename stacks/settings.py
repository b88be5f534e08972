"""Deployment settings, read from CDK context and validated before any resource is defined.

Defaults live here, once; ``cdk.json`` context or ``cdk deploy -c key=value`` overrides them (the
README lists the keys). A bad value stops synthesis with a message that names the context key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from constructs import Node

from miniticker import POPULAR_SYMBOLS, check_stream_name, stream_name_for

#: Context keys, in one place; cdk.json and the README document them.
ENV_KEY = "crypto-live:env"
STREAMS_KEY = "crypto-live:streams"
SECRET_NAME_KEY = "crypto-live:secret-name"

DEFAULT_ENV = "dev"
DEFAULT_STREAMS = tuple(stream_name_for(symbol) for symbol in POPULAR_SYMBOLS)

_ENV_NAME = re.compile(r"[a-z][a-z0-9-]{0,15}")


class SettingsError(ValueError):
    """A context value that cannot be deployed; the message names the key."""


@dataclass(frozen=True)
class Settings:
    """What one environment of crypto-live is deployed with."""

    env_name: str
    streams: tuple[str, ...]
    secret_name: str

    @property
    def stack_name(self) -> str:
        return f"crypto-live-{self.env_name}"

    @classmethod
    def from_context(cls, node: Node) -> Settings:
        env_name = node.try_get_context(ENV_KEY) or DEFAULT_ENV
        if not isinstance(env_name, str):
            raise SettingsError(f"{ENV_KEY} must be a string, got {env_name!r}")
        if not _ENV_NAME.fullmatch(env_name):
            raise SettingsError(
                f"{ENV_KEY}={env_name!r}: use 1-16 lower-case letters, digits or '-', "
                "starting with a letter (it becomes part of resource names)"
            )
        configured = node.try_get_context(STREAMS_KEY)
        streams = DEFAULT_STREAMS if configured is None else _streams(configured)
        # DESIGN's secret name with the environment in it, so dev and prod share an account.
        secret_name = node.try_get_context(SECRET_NAME_KEY) or f"crypto-live-{env_name}.binance_ws"
        if not isinstance(secret_name, str):
            raise SettingsError(f"{SECRET_NAME_KEY} must be a string, got {secret_name!r}")
        return cls(env_name=env_name, streams=streams, secret_name=secret_name)


def _streams(value: Any) -> tuple[str, ...]:
    # `-c key=[...]` arrives as a JSON string; cdk.json gives a list.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [s.strip() for s in value.split(",") if s.strip()]
    if not isinstance(value, list) or not value:
        raise SettingsError(
            f"{STREAMS_KEY} must be a non-empty list of stream names, "
            f"e.g. [\"btcusdt@miniTicker\"], got {value!r}"
        )
    streams = []
    for name in value:
        if not isinstance(name, str):
            raise SettingsError(f"{STREAMS_KEY}: {name!r} is not a string")
        try:
            streams.append(check_stream_name(name))
        except ValueError as error:
            raise SettingsError(f"{STREAMS_KEY}: {error}") from None
    duplicates = sorted({s for s in streams if streams.count(s) > 1})
    if duplicates:
        raise SettingsError(f"{STREAMS_KEY}: listed more than once: {duplicates}")
    return tuple(streams)
