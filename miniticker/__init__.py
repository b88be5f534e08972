"""The MiniTicker record contract (docs/architecture.md §2.1), shared by every crypto-live runtime.

Standard library only and Python 3.9-compatible: the same package runs in the Fargate ingester,
the consumer Lambda, the Glue Python shell job (Python 3.9) and the CDK app.
"""

from .codec import from_mapping, parse_json_line, to_json_line
from .errors import InvalidMiniTicker
from .normalize import Normalized, binance_key, normalize, normalize_message, split_message
from .record import (
    BINANCE_FIELDS,
    DECIMAL_FIELDS,
    DECIMAL_PATTERN,
    DECIMAL_PRECISION,
    DECIMAL_SCALE,
    EPOCH_MILLIS_FIELDS,
    EVENT_TYPE,
    FIELD_NAMES,
    FIELDS,
    MAX_EPOCH_MILLIS,
    SYMBOL_MAX_LENGTH,
    FieldKind,
    FieldSpec,
    MiniTicker,
)
from .streams import (
    ALL_MARKET_STREAM,
    MAX_STREAMS_PER_CONNECTION,
    MINI_TICKER_SUFFIX,
    POPULAR_SYMBOLS,
    check_stream_name,
    stream_name_for,
    symbol_of_stream,
)
from .timestamps import iso_from_millis

__all__ = [
    "ALL_MARKET_STREAM",
    "BINANCE_FIELDS",
    "DECIMAL_FIELDS",
    "DECIMAL_PATTERN",
    "DECIMAL_PRECISION",
    "DECIMAL_SCALE",
    "EPOCH_MILLIS_FIELDS",
    "EVENT_TYPE",
    "FIELDS",
    "FIELD_NAMES",
    "MAX_EPOCH_MILLIS",
    "MAX_STREAMS_PER_CONNECTION",
    "MINI_TICKER_SUFFIX",
    "POPULAR_SYMBOLS",
    "SYMBOL_MAX_LENGTH",
    "FieldKind",
    "FieldSpec",
    "InvalidMiniTicker",
    "MiniTicker",
    "Normalized",
    "binance_key",
    "check_stream_name",
    "from_mapping",
    "iso_from_millis",
    "normalize",
    "normalize_message",
    "parse_json_line",
    "split_message",
    "stream_name_for",
    "symbol_of_stream",
    "to_json_line",
]
