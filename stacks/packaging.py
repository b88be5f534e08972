"""Assets made of this repository's packages, bundled on this machine (no Docker needed).

A Lambda function or a Glue job ships its own package next to the record contract
(``miniticker``): the contract is imported, never copied into the function's folder.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3_deployment as s3deploy

REPO = Path(__file__).resolve().parents[1]
#: The image bundling would use without local bundling. Never pulled: the local bundlers here
#: always succeed (no Docker on the build machine); the API requires an image all the same.
FALLBACK_IMAGE = DockerImage.from_registry("public.ecr.aws/docker/library/python:3.13-slim")
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
            image=FALLBACK_IMAGE,
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


def write_wheel(package: Path, directory: Path, version: str) -> str:
    """A pure-Python wheel of ``package`` in ``directory``; returns the file's name.

    Glue's Python 3.9 shell takes libraries as wheels (``--extra-py-files``) and installs them
    with pip, which checks the file name and the hashes in RECORD.
    """
    name = package.name
    dist_info = f"{name}-{version}.dist-info"
    files = {f"{name}/{p.relative_to(package).as_posix()}": p.read_bytes()
             for p in sorted(package.rglob("*.py"))}
    files[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: crypto-live\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n")
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()]
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    filename = wheel_name(package, version)
    # Fixed timestamps: the same sources make the same bytes, so the asset hash is stable.
    with zipfile.ZipFile(directory / filename, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, data in files.items():
            wheel.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), data,
                           compress_type=zipfile.ZIP_DEFLATED)
    return filename


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


@jsii.implements(ILocalBundling)
class _GlueJobFiles:
    def __init__(self, scripts: tuple[Path, ...], packages: tuple[Path, ...],
                 version: str) -> None:
        self.scripts = scripts
        self.packages = packages
        self.version = version

    def try_bundle(self, output_dir: str, options: Any) -> bool:
        for script in self.scripts:
            shutil.copy(script, Path(output_dir) / script.name)
        for package in self.packages:
            write_wheel(package, Path(output_dir), self.version)
        return True


def glue_job_files(scripts: Sequence[Path], packages: Sequence[Path],
                   version: str) -> s3deploy.ISource:
    """A deployment source holding the jobs' entry scripts and each package as a wheel of
    ``version`` (``<package>-<version>-py3-none-any.whl``), side by side."""
    return s3deploy.Source.asset(str(scripts[0].parent), asset_hash_type=AssetHashType.OUTPUT,
                                 bundling=BundlingOptions(
                                     image=FALLBACK_IMAGE,
                                     # jsii.implements: mypy cannot see the interface
                                     local=_GlueJobFiles(  # type: ignore[arg-type]
                                         tuple(scripts), tuple(packages), version),
                                 ))


def wheel_name(package: Path, version: str) -> str:
    """The file name `write_wheel` gives ``package``'s wheel."""
    return f"{package.name}-{version}-py3-none-any.whl"
