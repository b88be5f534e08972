"""The one way this app suppresses a checkov finding: on the resource, with its reason.

checkov scans the synthesized template (tests/test_checkov.py); a failed check that no
suppression explains fails the suite. A suppression is checkov's own CloudFormation syntax,
``Metadata: {"checkov": {"skip": [{"id": ..., "comment": ...}]}}`` on the resource, so it
travels with the template and any checkov run reads it, as cdk-nag's acknowledgements travel
with the construct (`stacks.nag.acknowledge`).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import IConstruct

from .nag import MIN_REASON_LENGTH

METADATA_KEY = "checkov"


def cfn_resource(construct: IConstruct) -> cdk.CfnResource:
    """The CloudFormation resource a construct stands for: itself, or its default child."""
    if cdk.CfnResource.is_cfn_resource(construct):
        assert isinstance(construct, cdk.CfnResource)
        return construct
    default = construct.node.default_child
    if default is None or not cdk.CfnResource.is_cfn_resource(default):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource of its own: "
                        "suppress on the construct that owns the resource")
    assert isinstance(default, cdk.CfnResource)
    return default


def skip(construct: IConstruct, check_id: str, reason: str) -> None:
    """Suppress checkov's ``check_id`` (e.g. ``CKV_AWS_21``) on ``construct``'s resource."""
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(f"skipping {check_id} needs a reason a reviewer can check: {reason!r}")
    resource = cfn_resource(construct)
    metadata: dict[str, Any] = resource.get_metadata(METADATA_KEY) or {}
    skips: list[dict[str, str]] = list(metadata.get("skip", []))
    if {"id": check_id, "comment": reason} in skips:
        return  # the same suppression again (a shared resource: aws-cdk-lib's handlers)
    if any(entry["id"] == check_id for entry in skips):
        raise ValueError(f"{check_id} is already skipped on {resource.node.path} for another "
                         "reason")
    skips.append({"id": check_id, "comment": reason})
    resource.add_metadata(METADATA_KEY, {**metadata, "skip": skips})


def skip_all(construct: IConstruct, reasons: dict[str, str]) -> None:
    """`skip` each check of ``reasons`` (check id -> reason) on ``construct``'s resource."""
    for check_id, reason in reasons.items():
        skip(construct, check_id, reason)


#: Why aws-cdk-lib's own Lambda handlers (the custom resources behind `BucketDeployment` and a
#: bucket's ``auto_delete_objects``) keep the library's configuration.
LIBRARY_HANDLER_REASONS = {
    "CKV_AWS_115": "aws-cdk-lib's custom-resource handler runs only while CloudFormation "
                   "deploys the stack; reserving concurrency for it would hold account capacity "
                   "for nothing",
    "CKV_AWS_116": "aws-cdk-lib's custom-resource handler reports every outcome to "
                   "CloudFormation, which fails the deployment on an error; a dead-letter queue "
                   "would hold nothing to act on",
    "CKV_AWS_117": "aws-cdk-lib's custom-resource handler calls only the S3 and CloudFront "
                   "APIs, which IAM guards; in a VPC it would need a NAT gateway or endpoints "
                   "and would isolate nothing",
    "CKV_AWS_173": "aws-cdk-lib's custom-resource handler has no secret in its environment (a "
                   "CA bundle path); Lambda encrypts environment variables at rest with an AWS "
                   "managed key",
}


def skip_library_handler(handler: IConstruct, *check_ids: str) -> None:
    """Suppress ``check_ids`` on an aws-cdk-lib handler with `LIBRARY_HANDLER_REASONS`."""
    skip_all(handler, {check_id: LIBRARY_HANDLER_REASONS[check_id] for check_id in check_ids})
