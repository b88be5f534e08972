"""The Glue Data Catalog's view of the record (docs/architecture.md §2.6): table columns from
``FIELDS``,
and the columns of the tables derived from the events (candles, coverage), defined here once.

The CDK app defines the tables with these columns and the Glue job registers partitions of the
curated one; neither copies a field list.
"""

from typing import Any, NamedTuple

from . import layout
from .record import DECIMAL_PRECISION, DECIMAL_SCALE, FIELDS, FieldKind

#: The environment a deployment is when none is named (``cdk deploy -c env=...``).
DEFAULT_ENVIRONMENT = "dev"
CURATED_TABLE = "miniticker"  # Parquet over curated/miniticker/
RAW_TABLE = "raw_miniticker"  # JSON lines over raw/
CANDLES_TABLE = "candles_1m"  # Parquet over curated/candles_1m/, derived from the events
COVERAGE_TABLE = "coverage"  # Parquet over curated/coverage/, derived from the events


def default_database_name(env_name: str) -> str:
    """The Glue database the stack creates for an environment (and the jobs' default)."""
    return f"crypto_live_{env_name.replace('-', '_')}"


#: How each table's files are read, by the names Glue's API and CloudFormation use.
PARQUET_FORMAT = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
}
JSON_LINES_FORMAT = {
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
    "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
}

#: The curated Parquet dataset: partition columns, in path order (not stored in the files).
CURATED_PARTITION_KEYS = ("dt", "symbol")
#: The raw JSON lines: Firehose's hour prefixes.
RAW_PARTITION_KEYS = ("dt", "hour")

#: The record's exact decimals as Glue (Hive) types them.
DECIMAL_GLUE_TYPE = f"decimal({DECIMAL_PRECISION},{DECIMAL_SCALE})"

# Curated files hold exact decimals and UTC timestamps; raw lines hold the decimal strings
# and epoch milliseconds as they travel.
_CURATED_TYPES = {FieldKind.TEXT: "string", FieldKind.EPOCH_MILLIS: "timestamp",
                  FieldKind.DECIMAL: DECIMAL_GLUE_TYPE}
_RAW_TYPES = {FieldKind.TEXT: "string", FieldKind.EPOCH_MILLIS: "bigint",
              FieldKind.DECIMAL: "string"}


def curated_columns() -> list[dict[str, str]]:
    """The curated table's columns (its partition keys apart), as Glue takes them."""
    return [{"Name": f.name, "Type": _CURATED_TYPES[f.kind], "Comment": f.doc[:255]}
            for f in FIELDS if f.name not in CURATED_PARTITION_KEYS]


def raw_columns() -> list[dict[str, str]]:
    """The raw JSON table's columns, every field as it is stored in a line."""
    return [{"Name": f.name, "Type": _RAW_TYPES[f.kind], "Comment": f.doc[:255]}
            for f in FIELDS]


#: The curated table's own parameters, wherever it is created.
CURATED_PARAMETERS = {"classification": "parquet", "parquet.compression": "SNAPPY"}


# --- the derived tables ----------------------------------------------------------------------
# Not fields of the record, so defined here once: the Glue job's Arrow schemas are checked
# against these (tests/test_curated_derived.py).


class Column(NamedTuple):
    """One column of a derived curated table: its name, Glue (Hive) type and meaning."""

    name: str
    glue_type: str
    doc: str


#: A coverage row's silences: each interval's start and its length in milliseconds.
SILENCES_GLUE_TYPE = "array<struct<start:timestamp,length_ms:bigint>>"

#: One row a symbol and UTC minute of event time that has events; prices are close_price's.
CANDLES_COLUMNS = (
    Column("minute", "timestamp", "start of the UTC minute of event time"),
    Column("open", DECIMAL_GLUE_TYPE, "close_price of the minute's first event (event time)"),
    Column("high", DECIMAL_GLUE_TYPE, "highest close_price in the minute"),
    Column("low", DECIMAL_GLUE_TYPE, "lowest close_price in the minute"),
    Column("close", DECIMAL_GLUE_TYPE, "close_price of the minute's last event (event time)"),
    Column("first_event_time", "timestamp", "event_time of the minute's first event"),
    Column("last_event_time", "timestamp", "event_time of the minute's last event"),
    Column("events", "bigint", "events of the symbol in the minute"),
)

#: One row a symbol and UTC hour of event time that has events (an hour without any has none).
COVERAGE_COLUMNS = (
    Column("hour", "timestamp", "start of the UTC hour of event time"),
    Column("events", "bigint", "events of the symbol in the hour"),
    Column("first_event_time", "timestamp", "event_time of the hour's first event"),
    Column("last_event_time", "timestamp", "event_time of the hour's last event"),
    Column("silence_threshold_ms", "bigint",
           "a silence is an interval without events strictly longer than this"),
    Column("silences", SILENCES_GLUE_TYPE,
           "intervals without events longer than the threshold, in time order: hour start to "
           "first event, between consecutive events (start: the earlier), last event to hour end"),
)


def glue_columns(columns: tuple[Column, ...]) -> list[dict[str, str]]:
    """Columns as Glue takes them (a Comment holds at most 255 characters)."""
    return [{"Name": c.name, "Type": c.glue_type, "Comment": c.doc[:255]} for c in columns]


def candles_columns() -> list[dict[str, str]]:
    """The candles table's columns (its partition keys apart), as Glue takes them."""
    return glue_columns(CANDLES_COLUMNS)


def coverage_columns() -> list[dict[str, str]]:
    """The coverage table's columns (its partition keys apart), as Glue takes them."""
    return glue_columns(COVERAGE_COLUMNS)


def table_input(name: str, *, columns: list[dict[str, str]], partition_keys: tuple[str, ...],
                location: str, storage: dict[str, str],
                parameters: dict[str, str]) -> dict[str, Any]:
    """A table as Glue's CreateTable takes it, which is also CloudFormation's ``TableInput``."""
    return {
        "Name": name, "TableType": "EXTERNAL_TABLE", "Parameters": parameters,
        "PartitionKeys": [{"Name": key, "Type": "string"} for key in partition_keys],
        "StorageDescriptor": {
            "Columns": columns, "Location": location,
            "InputFormat": storage["InputFormat"], "OutputFormat": storage["OutputFormat"],
            "SerdeInfo": {"SerializationLibrary": storage["SerializationLibrary"]}},
    }


def curated_table_input(location: str) -> dict[str, Any]:
    """The curated table (the CDK app, the local mode and the tests all create it so)."""
    return table_input(CURATED_TABLE, columns=curated_columns(),
                       partition_keys=CURATED_PARTITION_KEYS, location=location,
                       storage=PARQUET_FORMAT, parameters=CURATED_PARAMETERS)


def candles_table_input(location: str) -> dict[str, Any]:
    """The candles table: laid out and partitioned like the curated events (dt, symbol)."""
    return table_input(CANDLES_TABLE, columns=candles_columns(),
                       partition_keys=CURATED_PARTITION_KEYS, location=location,
                       storage=PARQUET_FORMAT, parameters=CURATED_PARAMETERS)


def coverage_table_input(location: str) -> dict[str, Any]:
    """The coverage table: laid out and partitioned like the curated events (dt, symbol)."""
    return table_input(COVERAGE_TABLE, columns=coverage_columns(),
                       partition_keys=CURATED_PARTITION_KEYS, location=location,
                       storage=PARQUET_FORMAT, parameters=CURATED_PARAMETERS)


def curated_table_inputs(bucket_url: str) -> list[dict[str, Any]]:
    """The three curated tables over a bucket (``s3://name/``), each at its own prefix: what the
    CDK app, the local mode and the tests create."""
    return [curated_table_input(bucket_url + layout.CURATED_PREFIX),
            candles_table_input(bucket_url + layout.CANDLES_PREFIX),
            coverage_table_input(bucket_url + layout.COVERAGE_PREFIX)]
