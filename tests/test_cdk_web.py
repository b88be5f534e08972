"""The web layer in AWS: the page's bucket, the distribution in front of it and of the read API,
the API function and its grants (aws_cdk.assertions, on the synthesized template)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from app import build
from lambdas.api import settings as api_settings
from lambdas.api.observability import SERVICE as API_SERVICE
from miniticker.metrics import NAMESPACE
from stacks import read_api, web
from stacks.packaging import pinned_version
from stacks.settings import SettingsError
from tests.test_cdk_resources import assert_private_and_encrypted

CLOUDFRONT = "cloudfront.amazonaws.com"
WEB_OUTPUTS = ("PageUrl", "WebBucketName", "DistributionId", "ApiFunctionName")


@dataclass(frozen=True)
class Synthesized:
    template: Template
    assembly_dir: Path
    stack: cdk.Stack


def synth(**context: Any) -> Synthesized:
    """One synthesis with asset metadata, so a test can open the function's shipped files."""
    app = cdk.App(context={"aws:cdk:enable-asset-metadata": True,
                           **{f"crypto-live:{k.replace('_', '-')}": v
                              for k, v in context.items()}})
    stack = build(app)
    assembly = app.synth()
    template = assembly.get_stack_artifact(stack.artifact_id).template
    return Synthesized(Template.from_json(template), Path(assembly.directory), stack)


@pytest.fixture(scope="module")
def synthesized() -> Synthesized:
    return synth()


@pytest.fixture(scope="module")
def template(synthesized: Synthesized) -> Template:
    return synthesized.template


def only(template: Template, kind: str, **where: Any) -> tuple[str, dict[str, Any]]:
    found = template.find_resources(kind, {"Properties": Match.object_like(where)} if where
                                    else None)
    assert len(found) == 1, f"{len(found)} {kind} matching {where}"
    ((logical_id, resource),) = found.items()
    return logical_id, dict(resource)


def distribution(template: Template) -> tuple[str, dict[str, Any]]:
    logical_id, resource = only(template, "AWS::CloudFront::Distribution")
    return logical_id, resource["Properties"]["DistributionConfig"]


def distribution_arn(template: Template) -> dict[str, Any]:
    """How CDK writes this distribution's ARN (the SourceArn every grant to CloudFront names)."""
    distribution_id, _ = distribution(template)
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":cloudfront::",
                              {"Ref": "AWS::AccountId"}, ":distribution/",
                              {"Ref": distribution_id}]]}


def page_bucket(template: Template) -> tuple[str, dict[str, Any]]:
    return only(template, "AWS::S3::Bucket", LoggingConfiguration={
        "DestinationBucketName": Match.any_value(), "LogFilePrefix": "web/"})


def origin(config: dict[str, Any], origin_id: str) -> dict[str, Any]:
    (found,) = [o for o in config["Origins"] if o["Id"] == origin_id]
    return dict(found)


def origin_access_control(template: Template, origin_: dict[str, Any]) -> dict[str, Any]:
    oac_id = origin_["OriginAccessControlId"]["Fn::GetAtt"][0]
    return dict(template.to_json()["Resources"][oac_id]["Properties"][
        "OriginAccessControlConfig"])


def api_function(template: Template) -> tuple[str, dict[str, Any]]:
    return only(template, "AWS::Lambda::Function", Handler=read_api.HANDLER)


def test_the_page_bucket_is_private_encrypted_tls_only_and_logged(template: Template):
    bucket_id, bucket = page_bucket(template)
    properties = bucket["Properties"]
    assert_private_and_encrypted(properties)
    assert "WebsiteConfiguration" not in properties  # served by CloudFront, never by S3
    assert "AccessLogs" in json.dumps(properties["LoggingConfiguration"])
    _, policy = only(template, "AWS::S3::BucketPolicy", Bucket={"Ref": bucket_id})
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert {"Bool": {"aws:SecureTransport": "false"}} in [
        s.get("Condition") for s in statements if s["Effect"] == "Deny"]
    # Readable by this distribution alone: CloudFront's principal, its SourceArn, GetObject.
    allowed = [s for s in statements if s["Effect"] == "Allow"
               and s["Principal"] == {"Service": CLOUDFRONT}]
    assert len(allowed) == 1
    assert allowed[0]["Action"] == "s3:GetObject"
    assert allowed[0]["Condition"] == {
        "StringEquals": {"AWS:SourceArn": distribution_arn(template)}}
    assert not [s for s in statements if s["Effect"] == "Allow"
                and s["Principal"] in ("*", {"AWS": "*"})]  # nothing public
    assert not template.find_resources("AWS::CloudFront::CloudFrontOriginAccessIdentity")


def test_the_distribution_serves_the_bucket_through_an_origin_access_control(
        template: Template):
    _, config = distribution(template)
    bucket_id, _ = page_bucket(template)
    default = config["DefaultCacheBehavior"]
    s3_origin = origin(config, default["TargetOriginId"])
    assert s3_origin["DomainName"] == {"Fn::GetAtt": [bucket_id, "RegionalDomainName"]}
    assert s3_origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no OAI
    oac = origin_access_control(template, s3_origin)
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"],
            oac["SigningProtocol"]) == ("s3", "always", "sigv4")
    assert config["DefaultRootObject"] == "index.html"
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert default["AllowedMethods"] == ["GET", "HEAD"]
    assert default["Compress"] is True
    assert "ResponseHeadersPolicyId" in default
    assert config["HttpVersion"] == "http2and3"
    assert config["PriceClass"] == "PriceClass_100"
    assert config["Enabled"] is True


def test_api_requests_go_to_the_function_url_through_a_lambda_origin_access_control(
        template: Template):
    _, config = distribution(template)
    (behaviour,) = config["CacheBehaviors"]
    assert behaviour["PathPattern"] == web.API_PATH == "/api/*"
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert behaviour["CachedMethods"] == ["GET", "HEAD"]
    assert behaviour["Compress"] is True
    assert behaviour["ResponseHeadersPolicyId"] == config["DefaultCacheBehavior"][
        "ResponseHeadersPolicyId"]
    api_origin = origin(config, behaviour["TargetOriginId"])
    url_id, _ = only(template, "AWS::Lambda::Url")
    assert json.dumps({"Fn::GetAtt": [url_id, "FunctionUrl"]}) in json.dumps(
        api_origin["DomainName"])
    assert api_origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    oac = origin_access_control(template, api_origin)
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"],
            oac["SigningProtocol"]) == ("lambda", "always", "sigv4")

    resources = template.to_json()["Resources"]
    cache = resources[behaviour["CachePolicyId"]["Ref"]]["Properties"]["CachePolicyConfig"]
    # The origin's Cache-Control decides (minimum 0 honours no-store), bounded above.
    assert (cache["MinTTL"], cache["DefaultTTL"], cache["MaxTTL"]) == (0, 0, 60)
    key = cache["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "all"}
    assert key["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert key["CookiesConfig"] == {"CookieBehavior": "none"}
    request = resources[behaviour["OriginRequestPolicyId"]["Ref"]]["Properties"][
        "OriginRequestPolicyConfig"]
    # The query string reaches the API; no viewer header does, Host least of all.
    assert request["QueryStringsConfig"] == {"QueryStringBehavior": "all"}
    assert request["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert request["CookiesConfig"] == {"CookieBehavior": "none"}


def test_the_function_url_needs_iam_and_lets_only_this_distribution_invoke(
        template: Template):
    url_id, url = only(template, "AWS::Lambda::Url")
    function_id, _ = api_function(template)
    assert url["Properties"] == {"AuthType": "AWS_IAM", "InvokeMode": "BUFFERED",
                                 "TargetFunctionArn": {"Fn::GetAtt": [function_id, "Arn"]}}
    # Since October 2025 a URL behind CloudFront's OAC needs both actions (aws-cdk#35872).
    permissions = [p["Properties"] for p in template.find_resources(
        "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == CLOUDFRONT]
    assert sorted(p["Action"] for p in permissions) == [
        "lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
    for permission in permissions:
        assert permission["SourceArn"] == distribution_arn(template)
        assert json.dumps(permission["FunctionName"]) in (
            json.dumps({"Fn::GetAtt": [url_id, "FunctionArn"]}),
            json.dumps({"Fn::GetAtt": [function_id, "Arn"]}))
    (invoke,) = [p for p in permissions if p["Action"] == "lambda:InvokeFunction"]
    assert invoke["InvokedViaFunctionUrl"] is True  # not a direct Invoke
    # Nobody else may invoke it.
    others = [p["Properties"] for p in template.find_resources(
        "AWS::Lambda::Permission").values() if function_id in json.dumps(p)
        or url_id in json.dumps(p)]
    assert all(p["Principal"] == CLOUDFRONT for p in others)


def test_the_api_function_is_the_api_package_with_reserved_concurrency(
        synthesized: Synthesized):
    template = synthesized.template
    _, function = api_function(template)
    properties = function["Properties"]
    assert properties["Runtime"] == "python3.14"
    assert properties["Architectures"] == ["arm64"]
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["ReservedConcurrentExecutions"] == 10
    assert properties["MemorySize"] == read_api.MEMORY_MB
    assert properties["Timeout"] == read_api.TIMEOUT.to_seconds()
    variables = properties["Environment"]["Variables"]
    assert "Prices" in json.dumps(variables[api_settings.TABLE_NAME])  # the table's name
    assert {k: v for k, v in variables.items() if k != api_settings.TABLE_NAME} == {
        api_settings.RETENTION_DAYS: "1", "POWERTOOLS_SERVICE_NAME": API_SERVICE,
        "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE}
    (layer,) = properties["Layers"]
    parameters = template.to_json()["Parameters"]
    (name,) = [k for k in parameters if k in json.dumps(layer)]
    assert parameters[name]["Default"] == (  # the version the API's tests run
        "/aws/service/powertools/python/arm64/python3.14/"
        + pinned_version(read_api.REQUIREMENTS, "aws-lambda-powertools"))
    # Its own log group, and the asset holds the API package and the contract, nothing else.
    assert "ApiLogs" in json.dumps(properties["LoggingConfig"])
    root = synthesized.assembly_dir / function["Metadata"]["aws:asset:path"]
    shipped = {p.relative_to(root).as_posix() for p in root.rglob("*.py")}
    assert {"api/handler.py", "api/settings.py", "miniticker/record.py",
            "miniticker/hot_table.py"} <= shipped
    assert not [p for p in shipped if p.startswith(("consumer/", "tests/"))]


def test_the_api_role_may_query_and_get_items_of_the_table_and_nothing_else(
        template: Template):
    _, function = api_function(template)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    _, table = only(template, "AWS::DynamoDB::Table")
    table_id = next(k for k, v in template.to_json()["Resources"].items() if v == table)
    statements = [s for p in template.find_resources("AWS::IAM::Policy").values()
                  if {"Ref": role_id} in p["Properties"]["Roles"]
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    dynamodb = [s for s in statements if "dynamodb:" in json.dumps(s["Action"])]
    assert len(dynamodb) == 1
    assert sorted(dynamodb[0]["Action"]) == ["dynamodb:GetItem", "dynamodb:Query"]
    assert dynamodb[0]["Resource"] == [{"Fn::GetAtt": [table_id, "Arn"]}]  # no index, no *
    actions = {a for s in statements for a in (
        s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert actions == {"dynamodb:GetItem", "dynamodb:Query", "logs:CreateLogStream",
                       "logs:PutLogEvents", "xray:PutTraceSegments",
                       "xray:PutTelemetryRecords"}
    _, role = only(template, "AWS::IAM::Role", Description="crypto-live api Lambda")
    assert "ManagedPolicyArns" not in role["Properties"]


def test_the_responses_carry_security_headers(template: Template):
    _, policy = only(template, "AWS::CloudFront::ResponseHeadersPolicy")
    headers = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert headers["StrictTransportSecurity"] == {
        "AccessControlMaxAgeSec": 730 * 86_400, "IncludeSubdomains": True, "Override": True}
    assert headers["ContentTypeOptions"] == {"Override": True}
    assert headers["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == "strict-origin-when-cross-origin"
    directives = dict(d.split(" ", 1) for d in
                      headers["ContentSecurityPolicy"]["ContentSecurityPolicy"].split("; "))
    assert directives["default-src"] == "'none'"
    for directive in ("script-src", "connect-src"):
        assert directives[directive] == "'self'", directive  # nothing inline, nothing remote
    assert directives["frame-ancestors"] == "'none'"
    assert directives["style-src"] == f"'self' {web.CHART_LOGO_STYLE_HASH}"


def test_the_one_inline_style_allowed_is_the_chart_logos_in_the_built_page():
    """lightweight-charts inserts a <style> for its attribution logo; the CSP allows exactly that
    text by its hash. A library upgrade that changes the text fails here."""
    bundles = "".join(p.read_text() for p in web.PAGE_DIR.glob("*.js"))
    styles = set(re.findall(r"a#tv-attr-logo\{[^\"'`]*", bundles))
    assert len(styles) == 1, styles
    digest = base64.b64encode(hashlib.sha256(styles.pop().encode()).digest()).decode()
    assert f"'sha256-{digest}'" == web.CHART_LOGO_STYLE_HASH


def test_the_page_files_are_deployed_and_the_distribution_invalidated(template: Template):
    bucket_id, _ = page_bucket(template)
    distribution_id, _ = distribution(template)
    deployments = [d["Properties"] for d in template.find_resources(
        "Custom::CDKBucketDeployment").values()
        if d["Properties"]["DestinationBucketName"] == {"Ref": bucket_id}]
    assert len(deployments) == 1
    (deployment,) = deployments
    assert deployment["DistributionId"] == {"Ref": distribution_id}
    assert deployment["DistributionPaths"] == ["/*"]
    assert deployment["SystemMetadata"]["cache-control"] == (
        "public, max-age=0, must-revalidate, s-maxage=86400")
    assert deployment.get("Prune", True) is True  # files the build no longer makes go


def test_cloudfront_logs_to_the_access_log_bucket(template: Template):
    _, config = distribution(template)
    # The access-logs bucket: the one that keeps ACLs, which CloudFront's log delivery needs.
    access_logs, _ = only(template, "AWS::S3::Bucket", OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    assert config["Logging"] == {
        "Bucket": {"Fn::GetAtt": [access_logs, "RegionalDomainName"]},
        "Prefix": web.LOG_PREFIX}


def test_the_operations_dashboard_charts_the_api_and_the_edge(template: Template):
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard", {
        "Properties": Match.object_like({"DashboardName": Match.string_like_regexp(
            "operations")})}).values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    distribution_id, _ = distribution(template)
    assert "LatestRequests" in body
    assert "ServerErrors" in body
    assert "5xxErrorRate" in body
    assert distribution_id in body
    assert '\\"region\\":\\"us-east-1\\"' in body  # CloudFront's metrics live there


def test_the_page_url_and_the_web_names_are_outputs(template: Template):
    outputs = template.to_json()["Outputs"]
    assert set(WEB_OUTPUTS) <= set(outputs)
    distribution_id, _ = distribution(template)
    assert outputs["PageUrl"]["Value"] == {"Fn::Join": ["", [
        "https://", {"Fn::GetAtt": [distribution_id, "DomainName"]}, "/"]]}
    assert outputs["DistributionId"]["Value"] == {"Ref": distribution_id}
    assert outputs["WebBucketName"]["Value"] == {"Ref": page_bucket(template)[0]}
    assert outputs["ApiFunctionName"]["Value"] == {"Ref": api_function(template)[0]}


def test_the_context_leaves_the_web_layer_out_or_sizes_the_api():
    without = synth(web="false").template
    for kind in ("AWS::CloudFront::Distribution", "AWS::CloudFront::OriginAccessControl",
                 "AWS::CloudFront::CachePolicy", "AWS::Lambda::Url"):
        assert not without.find_resources(kind), kind
    assert not without.find_resources("AWS::Lambda::Function", {
        "Properties": Match.object_like({"Handler": read_api.HANDLER})})
    assert not without.find_resources("AWS::S3::Bucket", {"Properties": Match.object_like({
        "LoggingConfiguration": Match.object_like({"LogFilePrefix": "web/"})})})
    assert not set(WEB_OUTPUTS) & set(without.to_json()["Outputs"])
    assert len(without.find_resources("AWS::CloudWatch::Alarm")) == 9  # no read API alarm
    # The rest of the pipeline is still there.
    assert without.find_resources("AWS::Lambda::Function", {
        "Properties": Match.object_like({"Handler": "consumer.handler.handler"})})

    sized = synth(api_reserved_concurrency=3, retention_days=2).template
    _, function = api_function(sized)
    assert function["Properties"]["ReservedConcurrentExecutions"] == 3
    assert function["Properties"]["Environment"]["Variables"][
        api_settings.RETENTION_DAYS] == "2"


@pytest.mark.parametrize(("context", "words"), [
    ({"web": "maybe"}, "crypto-live:web='maybe' is neither true nor false"),
    ({"api_reserved_concurrency": 0}, "crypto-live:api-reserved-concurrency=0: must be 1..1000"),
    ({"api_reserved_concurrency": "ten"},
     "crypto-live:api-reserved-concurrency='ten' is not a whole number"),
])
def test_bad_web_settings_name_the_key(context: dict[str, Any], words: str):
    with pytest.raises(SettingsError) as caught:
        build(cdk.App(context={f"crypto-live:{k.replace('_', '-')}": v
                               for k, v in context.items()}))
    assert words in str(caught.value)


def test_synthesis_stops_with_a_clear_message_when_the_page_is_not_built(tmp_path: Path):
    stack = cdk.Stack(cdk.App(), "s")
    function = lambda_.Function(stack, "F", runtime=lambda_.Runtime.PYTHON_3_14,
                                handler="x.handler", code=lambda_.Code.from_inline("x"))
    url = function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
    with pytest.raises(web.PageNotBuilt, match=r"index\.html is missing: build the page with "
                       r"`make web`"):
        web.WebSite(stack, "Web", api_url=url, access_logs=s3.Bucket(stack, "Logs"),
                    page_dir=tmp_path)
