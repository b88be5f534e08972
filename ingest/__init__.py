"""The crypto-live ingester: Binance mini-tickers from websockets into a Kinesis Data Stream.

Connection management (`ingest.connection`), frame parsing (`ingest.frames`), batching and
de-duplication (`ingest.batching`) and delivery (`ingest.delivery`) are kept apart, as the best
feed handlers do; `ingest.service` wires them. What the rest of the project needs to know of the
ingester is in modules that import the standard library only: its environment variables
(`ingest.environment`), its metric names (`ingest.metric_names`) and its status file
(`ingest.status`).
"""
