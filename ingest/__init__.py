"""The crypto-live ingester: Binance mini-tickers from websockets into a Kinesis Data Stream.

Connection management (`ingest.connection`), frame parsing (`ingest.frames`) and delivery
(`ingest.delivery`) are kept apart, as the best feed handlers do; `ingest.service` wires them.
"""
