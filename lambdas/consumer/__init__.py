"""The consumer Lambda: Kinesis mini-tickers to the hot DynamoDB table (docs/architecture.md §2.4,
§3.2).

Deployed as the package ``consumer`` next to ``miniticker`` in the function's asset; the handler
is ``consumer.handler.handler``.
"""
