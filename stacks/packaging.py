"""Assets made of this repository's packages, bundled on this machine (no Docker needed).

A Lambda function or a Glue job ships its own package next to the record contract
(``miniticker``): the contract is imported, never copied into the function's folder.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

REPO = Path(__file__).resolve().parents[1]
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt", "README.md")


@jsii.implements(ILocalBundling)
class _CopyPackages:
    def __init__(self, packages: tuple[Path, ...]) -> None:
        self.packages = packages

    def try_bundle(self, output_dir: str, options: Any) -> bool:
        for package in self.packages:
            shutil.copytree(package, Path(output_dir) / package.name, ignore=_IGNORED,
                            dirs_exist_ok=True)
        return True


def python_packages(*packages: Path) -> lambda_.Code:
    """Lambda code holding these package folders side by side (and ``miniticker``)."""
    folders = (*packages, REPO / "miniticker")
    return lambda_.Code.from_asset(
        str(packages[0]),
        # The hash of what is shipped: the first package alone would miss contract changes.
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            # Never pulled: copying folders always succeeds locally; the image is only the
            # fallback the API requires.
            image=DockerImage.from_registry("public.ecr.aws/docker/library/python:3.13-slim"),
            local=_CopyPackages(folders),  # type: ignore[arg-type]  # jsii.implements
        ),
    )


def pinned_version(requirements: Path, package: str) -> str:
    """The exact version ``package`` is pinned to in a requirements file."""
    for line in requirements.read_text().splitlines():
        found = re.fullmatch(rf"{re.escape(package)}(?:\[[^\]]*\])?==([\w.]+)", line.strip())
        if found:
            return found.group(1)
    raise ValueError(f"{package} is not pinned with == in {requirements}")
