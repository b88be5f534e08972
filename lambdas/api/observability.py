"""The read API's metric names (CloudWatch EMF through Powertools Metrics), for the handler and
the dashboards; imports nothing, so the CDK app reads them without the function's libraries.

Namespace from ``POWERTOOLS_METRICS_NAMESPACE`` (settings.py), dimension ``service=api``.
"""

SERVICE = "api"


class MetricName:
    LATEST_REQUESTS = "LatestRequests"  # GET /api/latest answered 200
    HISTORY_REQUESTS = "HistoryRequests"  # GET /api/history with valid parameters
    CLIENT_ERRORS = "ClientErrors"  # 4xx: the caller's mistake, or an unknown symbol
    SERVER_ERRORS = "ServerErrors"  # 5xx: DynamoDB unavailable, or a bug (logged)
