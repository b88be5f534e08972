"""Where the pipeline keeps things in its bucket (DESIGN §2.3): one definition of every prefix.

Firehose (from the CDK app) writes raw hours, the Glue job reads them and writes curated,
quarantine and manifest objects, the local mode's drain imitates Firehose, and the Glue tables
and Athena workgroup point at the same places.
"""

RAW_PREFIX = "raw/miniticker/"  # then dt=YYYY-MM-DD/hour=HH/ (arrival time, UTC)
RAW_ERRORS_PREFIX = "raw-errors/"
CURATED_PREFIX = "curated/miniticker/"  # then dt=YYYY-MM-DD/symbol=SYMBOL/
QUARANTINE_PREFIX = "quarantine/miniticker/"
MANIFEST_PREFIX = "manifests/raw_to_parquet/"
ATHENA_RESULTS_PREFIX = "athena-results/"

#: Firehose's expressions for the raw hour prefix (its timestamp is the arrival time, UTC).
FIREHOSE_RAW_PREFIX = RAW_PREFIX + "dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
FIREHOSE_ERROR_PREFIX = (RAW_ERRORS_PREFIX + "!{firehose:error-output-type}/"
                         "dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/")
