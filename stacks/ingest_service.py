"""The ingest service on Fargate (docs/architecture.md §3.1, §3.4): one task, public subnets,
no NAT gateway."""

from __future__ import annotations

from aws_cdk import Duration, IgnoreMode, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from constructs import Construct

from ingest import environment as ingest_environment

from . import defaults
from .nag import acknowledge
from .packaging import REPO

DOCKERFILE = REPO / "ingest" / "Dockerfile"
#: ECS sends SIGTERM, waits this long, then SIGKILL; the service flushes in FLUSH_MARGIN less.
STOP_TIMEOUT = Duration.seconds(60)
FLUSH_MARGIN_SECONDS = 15
HEARTBEAT_MAX_AGE_SECONDS = 30
#: The task's size (CPU units, 1,024 to a vCPU; memory MiB); ``bench/cost.py`` prices it.
TASK_CPU = 256
TASK_MEMORY_MIB = 512


def docker_context_filter() -> list[str]:
    """The build context filter kept beside the Dockerfile (one definition for docker and CDK),
    plus the Dockerfile and that filter themselves: CDK stages the filtered context, and the
    build at deploy time needs both in it."""
    ignore_file = DOCKERFILE.with_name(DOCKERFILE.name + ".dockerignore")
    patterns = [line.strip() for line in ignore_file.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    return [*patterns, *(f"!{p.relative_to(REPO).as_posix()}" for p in (DOCKERFILE, ignore_file))]


class IngestService(Construct):
    """The websocket ingester as an ECS service of one ARM64 Fargate task.

    One task: two would ingest every event twice. Deployments start the new task before
    stopping the old one (the overlap's duplicates are dropped downstream) and roll back when
    the new one fails its health check. The VPC has public subnets only, so the task reaches
    Binance and AWS without a NAT gateway; its security group takes no inbound traffic.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stream_name: str,
        secret_arn: str,
        removal_policy: RemovalPolicy,
        cpu: int = TASK_CPU,
        memory_mib: int = TASK_MEMORY_MIB,
    ) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self, "Vpc", max_azs=2, nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(
                name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)])
        flow_logs = defaults.log_group(self, "FlowLogs", removal_policy=removal_policy)
        self.vpc.add_flow_log("Rejected", traffic_type=ec2.FlowLogTrafficType.REJECT,
                              destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))
        self.security_group = ec2.SecurityGroup(
            self, "EgressOnly", vpc=self.vpc, allow_all_outbound=True,
            description="crypto-live ingest: outbound to Binance and AWS only, nothing inbound")
        self.cluster = ecs.Cluster(self, "Cluster", vpc=self.vpc,
                                   container_insights_v2=ecs.ContainerInsights.ENABLED)
        self.task_definition = ecs.FargateTaskDefinition(
            self, "Task", cpu=cpu, memory_limit_mib=memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.ARM64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX))
        self.log_group = defaults.log_group(self, "Logs", removal_policy=removal_policy)
        flush = STOP_TIMEOUT.to_seconds() - FLUSH_MARGIN_SECONDS
        self.container = self.task_definition.add_container(
            "ingest",
            image=ecs.ContainerImage.from_asset(
                str(REPO), file=str(DOCKERFILE.relative_to(REPO)),
                exclude=docker_context_filter(), ignore_mode=IgnoreMode.DOCKER,
                platform=ecr_assets.Platform.LINUX_ARM64),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="ingest", log_group=self.log_group),
            environment=ingest_environment.variables(
                kinesis_stream_name=stream_name, secret_id=secret_arn,
                flush_timeout_seconds=int(flush), log_level="INFO"),
            health_check=ecs.HealthCheck(
                command=["CMD", "python", "-m", "ingest.healthcheck", "--max-age",
                         str(HEARTBEAT_MAX_AGE_SECONDS)],
                interval=Duration.seconds(15), timeout=Duration.seconds(5), retries=3,
                start_period=Duration.seconds(30)),
            stop_timeout=STOP_TIMEOUT,
        )
        acknowledge(self.task_definition, "ECS2", "Plain configuration (stream name, secret "
                    "ARN, timeouts, log level); the stream list is read from Secrets Manager at "
                    "start and no secret is in the environment")
        execution_role = self.task_definition.obtain_execution_role()
        acknowledge(execution_role, "IAM5", "ecr:GetAuthorizationToken takes no resource ARN; "
                    "the execution role needs it to pull the image", "Resource::*")
        self.service = ecs.FargateService(
            self, "Service", cluster=self.cluster, task_definition=self.task_definition,
            desired_count=1,
            assign_public_ip=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_groups=[self.security_group],
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
        )

    @property
    def task_role(self) -> iam.IRole:
        """The role the ingester runs as: the stack grants it the stream and the secret."""
        return self.task_definition.task_role
