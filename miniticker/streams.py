"""Binance mini-ticker stream names.

A symbol's stream is its lower-case symbol plus ``@miniTicker``; the whole market comes as one
array on ``!miniTicker@arr``. The record's ``stream_type`` is always a symbol's stream, also for
records that arrived in the all-market array, so a DynamoDB query by stream finds them either way.
"""

MINI_TICKER_SUFFIX = "@miniTicker"
ALL_MARKET_STREAM = "!miniTicker@arr"
#: Binance's limit of streams on one connection.
MAX_STREAMS_PER_CONNECTION = 1024

#: About ten of the most traded USDT pairs: the default stream list of a deployment and of the
#: local mode, and the default symbols of generated data.
POPULAR_SYMBOLS = (
    "BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT",
    "DOGEUSDT", "ADAUSDT", "TRXUSDT", "LINKUSDT", "AVAXUSDT",
)


def stream_name_for(symbol: str) -> str:
    """``BTCUSDT`` -> ``btcusdt@miniTicker``."""
    return symbol.lower() + MINI_TICKER_SUFFIX


def symbol_of_stream(name: str) -> str:
    """``btcusdt@miniTicker`` -> ``BTCUSDT`` (the inverse of `stream_name_for`)."""
    if not name.endswith(MINI_TICKER_SUFFIX) or name == ALL_MARKET_STREAM:
        raise ValueError(f"{name!r} is not one symbol's mini-ticker stream")
    return name[: -len(MINI_TICKER_SUFFIX)].upper()


def check_stream_name(name: str) -> str:
    """Return a subscribable mini-ticker stream name, or raise ``ValueError`` saying why not.

    Used to validate configuration (the stream list in Secrets Manager, ``BINANCE_STREAMS``,
    CDK context) before anything connects.
    """
    if name == ALL_MARKET_STREAM:
        return name
    symbol, suffix = name[: -len(MINI_TICKER_SUFFIX)], name[-len(MINI_TICKER_SUFFIX) :]
    if suffix != MINI_TICKER_SUFFIX or not symbol:
        raise ValueError(
            f"stream name {name!r} is not '<symbol>{MINI_TICKER_SUFFIX}' "
            f"(e.g. 'btcusdt{MINI_TICKER_SUFFIX}') or {ALL_MARKET_STREAM!r}"
        )
    if not symbol.isalnum() or symbol != symbol.lower():
        raise ValueError(
            f"stream name {name!r}: the symbol part must be lower-case letters and digits, "
            f"as Binance names streams (e.g. 'btcusdt{MINI_TICKER_SUFFIX}')"
        )
    return name
