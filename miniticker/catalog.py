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


def curated_table_input(location: str) -> dict[str, Any]:
    """The curated table as Glue's CreateTable takes it (the local mode and the tests create it
    so; the CDK app defines the same table from the same parts)."""
    return {
        "Name": CURATED_TABLE, "TableType": "EXTERNAL_TABLE",
        "PartitionKeys": [{"Name": key, "Type": "string"} for key in CURATED_PARTITION_KEYS],
        "StorageDescriptor": {
            "Columns": curated_columns(), "Location": location,
            "InputFormat": PARQUET_FORMAT["InputFormat"],
            "OutputFormat": PARQUET_FORMAT["OutputFormat"],
            "SerdeInfo": {"SerializationLibrary": PARQUET_FORMAT["SerializationLibrary"]}},
    }
