"""The price page in AWS: the built page in a private bucket, served with the read API through one
CloudFront distribution (the API's contract is docs/api.md)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from . import checkov
from .defaults import build_output_bucket
from .nag import GRANT_ACTIONS, acknowledge, arn_finding
from .packaging import REPO

#: What `make web` builds (index.html, app.js, app.css); the deployment uploads it as it is.
PAGE_DIR = REPO / "web" / "dist"
API_PATH = "/api/*"
#: CloudFront's standard logs, in the access-logs bucket next to the buckets' own logs.
LOG_PREFIX = "cloudfront/"
#: The stylesheet lightweight-charts inserts for its TradingView attribution logo (the one inline
#: style the page has), allowed by its hash; tests/test_cdk_web.py checks it against the
#: installed library, so an upgrade that changes it fails there, not in viewers' consoles.
CHART_LOGO_STYLE_HASH = "'sha256-3pRED1tOXas1FXFoPb9TGCjmYe9XQsmO9OV23khV2nY='"
#: The page loads its script, styles and data from its own origin and nothing else; charts draw
#: on canvas. ``data:`` images: the page's empty icon (``href="data:,"``), which spares the
#: browser a request for /favicon.ico.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'", "script-src 'self'", f"style-src 'self' {CHART_LOGO_STYLE_HASH}",
    "connect-src 'self'", "img-src 'self' data:", "font-src 'self'", "base-uri 'none'",
    "form-action 'none'", "frame-ancestors 'none'"))
HSTS_MAX_AGE = Duration.days(730)
#: The page's files have fixed names, so browsers revalidate them on every load (a 304 from the
#: edge), and the edges keep them until the next deploy invalidates the distribution.
PAGE_CACHE_CONTROL = (s3deploy.CacheControl.set_public(),
                      s3deploy.CacheControl.max_age(Duration.seconds(0)),
                      s3deploy.CacheControl.must_revalidate(),
                      s3deploy.CacheControl.s_max_age(Duration.days(1)))
#: The API sets its own Cache-Control (about a second for prices, longer for closed candles);
#: these bound it. Minimum 0: `no-store` on an error is honoured; default 0: an answer without
#: the header is not cached.
API_MAX_TTL = Duration.seconds(60)


class PageNotBuilt(FileNotFoundError):
    """The page's build output is missing; the message says how to make it."""


class WebSite(Construct):
    """A private, TLS-only, S3-encrypted bucket holding the built page (its access logs in the
    access-logs bucket), and a CloudFront distribution in front of it and of the read API.

    The default behaviour reads the bucket through an origin access control (the bucket policy
    allows CloudFront's service principal for this distribution only); ``/api/*`` goes to the
    API's function URL through an origin access control of type lambda, which signs every
    request: the URL's ``AWS_IAM`` auth refuses anyone else. Both behaviours redirect HTTP to
    HTTPS, compress, and add security headers (HSTS, a same-origin-only CSP, no framing, no
    sniffing, a strict referrer policy). The API's cache policy honours the origin's
    Cache-Control with the query string as the cache key, so a second's worth of viewers of the
    same answer costs one invocation per edge location. Standard logs go to the access-logs
    bucket (which keeps ACLs enabled, as CloudFront's log delivery requires).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api_url: lambda_.IFunctionUrl,
        access_logs: s3.IBucket,
        page_dir: Path = PAGE_DIR,
        price_class: cloudfront.PriceClass = cloudfront.PriceClass.PRICE_CLASS_100,
    ) -> None:
        super().__init__(scope, construct_id)
        if not (page_dir / "index.html").is_file():
            raise PageNotBuilt(f"{page_dir / 'index.html'} is missing: build the page with "
                               "`make web` before synthesizing (make synth and make pytest "
                               "build it first), or leave the web layer out with "
                               "-c crypto-live:web=false")
        self.bucket = build_output_bucket(self, "Page", access_logs=access_logs,
                                          log_prefix="web/")

        headers = cloudfront.ResponseHeadersPolicy(
            self, "SecurityHeaders",
            comment="crypto-live: security headers on the page and the API",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=CONTENT_SECURITY_POLICY, override=True),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                    override=True),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=HSTS_MAX_AGE, include_subdomains=True,
                    override=True)))
        self.api_cache = cloudfront.CachePolicy(
            self, "ApiCache",
            comment="crypto-live API: the origin's Cache-Control decides, keyed on the query",
            min_ttl=Duration.seconds(0), default_ttl=Duration.seconds(0), max_ttl=API_MAX_TTL,
            # Every query string: an unknown parameter reaches the API, which refuses it (400,
            # not stored), exactly as it does on loopback.
            query_string_behavior=cloudfront.CacheQueryStringBehavior.all(),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            enable_accept_encoding_gzip=True, enable_accept_encoding_brotli=True)
        # The query string only: no viewer header, Host least of all (a function URL answers
        # only to its own host name, and the origin access control signs CloudFront's).
        api_request = cloudfront.OriginRequestPolicy(
            self, "ApiRequest",
            comment="crypto-live API: the query string, no viewer headers or cookies",
            query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.all(),
            header_behavior=cloudfront.OriginRequestHeaderBehavior.none(),
            cookie_behavior=cloudfront.OriginRequestCookieBehavior.none())

        self.distribution = cloudfront.Distribution(
            self, "Distribution",
            comment=f"crypto-live price page ({Stack.of(self).stack_name})",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=headers,
                compress=True),
            additional_behaviors={API_PATH: cloudfront.BehaviorOptions(
                origin=origins.FunctionUrlOrigin.with_origin_access_control(api_url),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                cache_policy=self.api_cache,
                origin_request_policy=api_request,
                response_headers_policy=headers,
                compress=True)},
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=price_class,
            enable_logging=True, log_bucket=access_logs, log_file_prefix=LOG_PREFIX)
        acknowledge(self.distribution, "CFR1", "A public price page has no country to keep "
                    "out; to restrict it, set geo_restriction on the distribution in "
                    "stacks/web.py")
        no_waf = ("No AWS WAF web ACL: the page and the API are read-only and public, the API's "
                  "reserved concurrency caps what a flood of cache misses costs, and a web ACL "
                  "has a monthly price of its own; attach one (web_acl_id) for rate limiting "
                  "by IP")
        default_tls = ("The distribution uses CloudFront's default certificate "
                       "(*.cloudfront.net), whose minimum TLS version CloudFront sets; bring a "
                       "domain and an ACM certificate in us-east-1 to set TLSv1.2_2021")
        acknowledge(self.distribution, "CFR2", no_waf)
        acknowledge(self.distribution, "CFR4", default_tls)
        checkov.skip_all(self.distribution, {"CKV_AWS_68": no_waf, "CKV_AWS_174": default_tls})

        self.deployment = s3deploy.BucketDeployment(
            self, "Files", destination_bucket=self.bucket,
            sources=[s3deploy.Source.asset(str(page_dir))],
            cache_control=list(PAGE_CACHE_CONTROL),
            # A deploy replaces the page at every edge at once.
            distribution=self.distribution, distribution_paths=["/*"])
        # aws-cdk-lib's BucketDeployment handler (one per stack, shared with the Glue job's
        # files, whose construct acknowledges the rest): this deployment adds its grants.
        handler = next(child for child in Stack.of(self).node.children
                       if child.node.id.startswith("Custom::CDKBucketDeployment"))
        acknowledge(handler, "IAM5", "aws-cdk-lib's BucketDeployment handler writes the page "
                    "bucket with the library's grant action groups and invalidates the "
                    "distribution after a deploy (CloudFront's invalidation actions take no "
                    "narrower resource in the library's policy)",
                    *GRANT_ACTIONS, arn_finding(self.bucket, "/*"), "Resource::*")
        assert isinstance(handler, lambda_.Function)
        assert handler.role is not None
        checkov.skip(handler.role.node.find_child("DefaultPolicy"), "CKV_AWS_111",
                     "aws-cdk-lib's BucketDeployment handler invalidates the distribution after "
                     "a deploy; the library's policy grants CloudFront's invalidation actions on "
                     "every resource")

    @property
    def page_url(self) -> str:
        return f"https://{self.distribution.distribution_domain_name}/"
