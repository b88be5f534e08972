"""Field checks shared by both ways into the record (Binance payloads and stored records).

Each check returns the value it accepted or raises `InvalidMiniTicker` naming the field, the
offending value and the payload. The checks are plain functions on purpose: the Lambda runs them
for every record, so they stay a few hundred nanoseconds each.
"""

import re
from typing import Any, Callable

from .errors import InvalidMiniTicker
from .record import (
    DECIMAL_INTEGER_DIGITS,
    DECIMAL_PATTERN,
    DECIMAL_SCALE,
    EVENT_TYPE,
    MAX_EPOCH_MILLIS,
    SYMBOL_MAX_LENGTH,
    FieldKind,
    FieldSpec,
)

#: A field check: ``check(value, field name, payload)`` returns the accepted value or raises.
Check = Callable[[Any, str, Any], Any]

_DECIMAL = re.compile(DECIMAL_PATTERN)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def check_text(value: Any, field: str, payload: Any) -> str:
    if type(value) is not str or not value:
        raise InvalidMiniTicker(
            field, f"expected a non-empty string, got {_type_name(value)} {value!r}", payload
        )
    return value


def check_epoch_millis(value: Any, field: str, payload: Any) -> int:
    # type() rather than isinstance(): JSON true/false decode to bool, a subclass of int.
    if type(value) is not int:
        raise InvalidMiniTicker(
            field, f"expected integer epoch milliseconds, got {_type_name(value)} {value!r}",
            payload,
        )
    if not 0 <= value <= MAX_EPOCH_MILLIS:
        raise InvalidMiniTicker(
            field, f"epoch milliseconds {value} outside 0..{MAX_EPOCH_MILLIS}", payload
        )
    return value


def check_decimal(value: Any, field: str, payload: Any) -> str:
    if type(value) is not str:
        raise InvalidMiniTicker(
            field, f"expected a decimal string, got {_type_name(value)} {value!r}", payload
        )
    if _DECIMAL.fullmatch(value) is None:  # fullmatch: "$" alone lets "1.5\n" through
        raise InvalidMiniTicker(
            field,
            f"{value!r} is not a non-negative plain decimal with at most "
            f"{DECIMAL_INTEGER_DIGITS} integer and {DECIMAL_SCALE} fraction digits",
            payload,
        )
    return value


CHECKS: dict[FieldKind, Check] = {
    FieldKind.TEXT: check_text,
    FieldKind.EPOCH_MILLIS: check_epoch_millis,
    FieldKind.DECIMAL: check_decimal,
}


def check_of(spec: FieldSpec) -> Check:
    """The check of ``spec``'s values. An optional field's also takes None (the field absent,
    or JSON null: Arrow reads both as null, so the Glue job's fast path cannot tell them apart
    and the contract must not either); a present value gets its kind's check all the same."""
    check = CHECKS[spec.kind]
    if not spec.optional:
        return check

    def check_or_none(value: Any, field: str, payload: Any) -> Any:
        return None if value is None else check(value, field, payload)

    return check_or_none


def check_event_type(value: str, payload: Any) -> None:
    if value != EVENT_TYPE:
        raise InvalidMiniTicker(
            "event_type", f"unknown event type {value!r}, expected {EVENT_TYPE!r}", payload
        )


def check_symbol(value: str, payload: Any) -> None:
    # Letters and digits only (Unicode ones too), upper case: the symbol becomes an S3 partition
    # value and, lower-cased, part of the stream name and DynamoDB key.
    if len(value) > SYMBOL_MAX_LENGTH or not value.isalnum() or value != value.upper():
        raise InvalidMiniTicker(
            "symbol",
            f"{value!r} is not an upper-case symbol of at most {SYMBOL_MAX_LENGTH} letters "
            "and digits",
            payload,
        )


def check_price_range(low: str, high: str, payload: Any) -> None:
    """The 24 h low may not exceed the 24 h high (compared exactly, as decimals)."""
    if _decimal_key(low) > _decimal_key(high):
        raise InvalidMiniTicker("low_price", f"low {low} is above high {high}", payload)


def _decimal_key(value: str) -> tuple[int, str]:
    # Exact ordering of two pattern-checked decimals without Decimal: compare the integer parts
    # as ints, then the fraction parts padded to the same width.
    integer, _, fraction = value.partition(".")
    return int(integer), fraction.ljust(DECIMAL_SCALE, "0")
