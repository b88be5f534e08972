"""cdk-nag (AwsSolutions pack) for the app, and the one way this app acknowledges a finding.

cdk-nag 3 runs as a CDK validation plugin: a finding nobody acknowledged stops `cdk synth`.
Each acknowledgement names the rule and, where the rule reports several findings on one
resource (IAM5's wildcards), each finding, and always carries its reason.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import region_info
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

PACK = "AwsSolutions"
#: The shortest reason an acknowledgement (or a checkov suppression, `stacks.checkov`) may give.
MIN_REASON_LENGTH = 40

#: Why the wildcard actions of CDK's bucket grants are acceptable wherever they appear.
GRANT_ACTIONS = ("Action::s3:Abort*", "Action::s3:DeleteObject*", "Action::s3:GetBucket*",
                 "Action::s3:GetObject*", "Action::s3:List*")


def check(app: cdk.App) -> None:
    """Run the AwsSolutions rules on every stack of ``app`` at synthesis."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, rule: str, reason: str, *findings: str) -> None:
    """Acknowledge ``rule`` (e.g. ``IAM5``) on ``scope``, for each of ``findings`` if given."""
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(f"acknowledging {rule} needs a reason a reviewer can check: {reason!r}")
    ids = ([f"{PACK}::{PACK}-{rule}[{finding}]" for finding in findings] if findings
           else [f"{PACK}::{PACK}-{rule}"])
    cdk.Validations.of(scope).acknowledge(
        *(cdk.Acknowledgment(id=rule_id, reason=reason) for rule_id in ids))


def arn_finding(resource: IConstruct, suffix: str = "") -> str:
    """IAM5's finding id for a wildcard under a resource's ARN: ``Resource::<Id.Arn>/raw/*``."""
    stack = cdk.Stack.of(resource)
    default = resource.node.default_child
    cfn = default if isinstance(default, cdk.CfnElement) else resource
    assert isinstance(cfn, cdk.CfnElement)
    return f"Resource::<{stack.resolve(stack.get_logical_id(cfn))}.Arn>{suffix}"


def cdk_assets_finding(scope: IConstruct) -> str:
    """IAM5's finding id for the CDK assets bucket's objects, as cdk-nag prints it: account,
    region and partition literal where the stack knows them, placeholders where it does not."""
    stack = cdk.Stack.of(scope)
    region_known = not cdk.Token.is_unresolved(stack.region)
    region = stack.region if region_known else "<AWS::Region>"
    account = stack.account if not cdk.Token.is_unresolved(stack.account) else "<AWS::AccountId>"
    partition = (region_info.RegionInfo.get(stack.region).partition or "aws") if region_known \
        else "<AWS::Partition>"
    bucket = (cdk.DefaultStackSynthesizer.DEFAULT_FILE_ASSETS_BUCKET_NAME
              .replace("${Qualifier}", cdk.DefaultStackSynthesizer.DEFAULT_QUALIFIER)
              .replace("${AWS::AccountId}", account).replace("${AWS::Region}", region))
    return f"Resource::arn:{partition}:s3:::{bucket}/*"
