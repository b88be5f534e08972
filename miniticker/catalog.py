"""The Glue Data Catalog's view of the record (DESIGN §2.6): table columns from ``FIELDS``.

The CDK app defines the tables with these columns and the Glue job registers partitions of the
curated one; neither copies a field list.
"""

from typing import Any

from .record import DECIMAL_PRECISION, DECIMAL_SCALE, FIELDS, FieldKind

CURATED_TABLE = "miniticker"  # Parquet over curated/
RAW_TABLE = "raw_miniticker"  # JSON lines over raw/

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

# Curated files hold exact decimals and UTC timestamps; raw lines hold the decimal strings
# and epoch milliseconds as they travel.
_CURATED_TYPES = {FieldKind.TEXT: "string", FieldKind.EPOCH_MILLIS: "timestamp",
                  FieldKind.DECIMAL: f"decimal({DECIMAL_PRECISION},{DECIMAL_SCALE})"}
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
