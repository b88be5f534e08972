"""Binance payloads to MiniTicker records.

Binance delivers mini-tickers in three shapes, all handled here:

- a raw ``24hrMiniTicker`` object (a ``/ws/<symbol>@miniTicker`` connection);
- a combined-stream wrapper ``{"stream": "btcusdt@miniTicker", "data": {...}}`` (``/stream``);
- the all-market array ``!miniTicker@arr``, raw (a JSON array) or wrapped; each element becomes a
  record of its own symbol's stream.

Connection-level messages (subscription acks, ``serverShutdown``) are the ingester's business; it
recognises them before it calls this module, which would reject them as unknown events.
"""

from collections.abc import Mapping
from typing import Any, NamedTuple, Optional

from .errors import InvalidMiniTicker
from .record import BINANCE_FIELDS, FIELDS, MiniTicker
from .streams import ALL_MARKET_STREAM, stream_name_for
from .timestamps import iso_from_millis
from .validate import (
    check_epoch_millis,
    check_event_type,
    check_of,
    check_price_range,
    check_symbol,
)

# (field name, Binance key, check, optional) for every field copied from Binance, in record
# order. An optional one (added later) may be missing from the payload: the record's is None.
_COPIED = tuple(
    (f.name, f.binance_key, check_of(f), f.optional) for f in FIELDS if f.binance_key is not None
)
_KEY_OF = dict(BINANCE_FIELDS)


def normalize(
    payload: Any, *, received_at: int, stream: Optional[str] = None
) -> MiniTicker:
    """Validate one raw ``24hrMiniTicker`` object and build its record.

    Args:
        payload: the decoded JSON object Binance sent (the ``data`` of a combined stream).
        received_at: epoch ms at which the caller read the frame, from the caller's clock.
        stream: the combined-stream name the payload came on, if any; it must be the payload's
            own symbol's stream. ``None`` (or the all-market stream) derives it from the symbol.

    Raises:
        InvalidMiniTicker: naming the first field at fault and keeping ``payload``.
    """
    if not isinstance(payload, Mapping):
        raise InvalidMiniTicker(
            None, f"expected a mini-ticker JSON object, got {type(payload).__name__}", payload
        )
    values: dict[str, Any] = {}
    for name, key, check, optional in _COPIED:
        try:
            raw = payload[key]
        except KeyError:
            if not optional:
                raise InvalidMiniTicker(
                    name, f"missing (Binance key {key!r})", payload) from None
            raw = None
        values[name] = check(raw, name, payload)
    check_event_type(values["event_type"], payload)
    symbol = values["symbol"]
    check_symbol(symbol, payload)
    check_price_range(values["low_price"], values["high_price"], payload)
    own_stream = stream_name_for(symbol)
    if stream is not None and stream not in (own_stream, ALL_MARKET_STREAM):
        raise InvalidMiniTicker(
            "stream_type", f"stream {stream!r} does not carry symbol {symbol!r}", payload
        )
    values["stream_type"] = own_stream
    values["iso_timestamp"] = iso_from_millis(values["event_time"])
    values["received_at"] = check_epoch_millis(received_at, "received_at", payload)
    return MiniTicker(**values)


class Normalized(NamedTuple):
    """What one websocket message yielded: its valid records and what was set aside."""

    records: list[MiniTicker]
    rejected: list[InvalidMiniTicker]


def split_message(message: Any) -> list[tuple[Optional[str], Any]]:
    """The ``(stream name or None, mini-ticker payload)`` pairs one decoded message carries.

    Raises:
        InvalidMiniTicker: for a shape that is none of the three (a wrapper whose all-market
            ``data`` is not an array, a JSON string or number, ...).
    """
    if isinstance(message, list):
        return [(None, element) for element in message]
    if not isinstance(message, Mapping):
        raise InvalidMiniTicker(
            None, f"expected a JSON object or array, got {type(message).__name__}", message
        )
    if "stream" in message and "data" in message:
        stream, data = message["stream"], message["data"]
        if stream == ALL_MARKET_STREAM:
            if not isinstance(data, list):
                raise InvalidMiniTicker(
                    None, f"{ALL_MARKET_STREAM} data is {type(data).__name__}, not an array",
                    message,
                )
            return [(None, element) for element in data]
        if not isinstance(stream, str):
            raise InvalidMiniTicker("stream_type", f"stream name {stream!r} is not a string",
                                    message)
        return [(stream, data)]
    return [(None, message)]


def normalize_message(message: Any, *, received_at: int) -> Normalized:
    """Normalise every mini-ticker in one decoded websocket message, whatever its shape.

    One bad element of an all-market array is set aside on its own; the others still become
    records. Nothing raises: every rejection is returned with its payload.
    """
    result = Normalized([], [])
    try:
        parts = split_message(message)
    except InvalidMiniTicker as error:
        result.rejected.append(error)
        return result
    for stream, payload in parts:
        try:
            result.records.append(normalize(payload, received_at=received_at, stream=stream))
        except InvalidMiniTicker as error:
            result.rejected.append(error)
    return result


def binance_key(field: str) -> Optional[str]:
    """The Binance payload key a record field is copied from (``close_price`` -> ``c``)."""
    return _KEY_OF.get(field)
