"""The CloudWatch namespace every crypto-live runtime publishes its metrics in.

The ingester, the consumer and the read API publish EMF documents in it; the CDK app's alarms and
dashboards read it. Kept here, in the package every runtime ships and the CDK app imports, so
the name has one definition and its importers load no runtime library (standard library only,
as the rest of the package). Each runtime names its own metrics beside its code.
"""

NAMESPACE = "CryptoLive"
