"""Resolve the image a commit built: `repository_uri:<sha>` -> `repository_uri@sha256:...`.

A missing repository or tag fails at once (not retryable) with a message saying
what to check; deploying by digest means a re-pushed tag can never change what runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rollway.models import ImageRef
from rollway.providers.aws.config import EcrImageConfig
from rollway.providers.aws.errors import AwsError, aws_errors

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient


def resolve_image(ecr: ECRClient, config: EcrImageConfig, commit: str) -> ImageRef:
    """Find the image tagged `commit` in the repository and return it pinned by digest."""
    if not commit:
        raise AwsError("no commit SHA to look up in ECR", kind="invalid")
    where = f"ECR repository {config.repository} ({config.region})"
    registry: dict[str, Any] = {"registryId": config.registry_id} if config.registry_id else {}
    with aws_errors(ecr, where):
        try:
            repos = ecr.describe_repositories(repositoryNames=[config.repository], **registry)
        except ecr.exceptions.RepositoryNotFoundException as err:
            raise AwsError(
                f"{where} does not exist (registry {config.registry_id or 'of the worker account'}"
                "); check `image.repository` and `image.region` in the pipeline spec",
                kind="not-found",
                code="RepositoryNotFoundException",
                operation="DescribeRepositories",
                iam_action="ecr:DescribeRepositories",
                resource=where,
            ) from err
    repo = repos["repositories"][0]
    repo_uri = repo["repositoryUri"]
    image_where = f"image {repo_uri}:{commit}"
    with aws_errors(ecr, image_where):
        try:
            resp = ecr.describe_images(
                repositoryName=config.repository,
                imageIds=[{"imageTag": commit}],
                **registry,
            )
        except ecr.exceptions.ImageNotFoundException as err:
            raise AwsError(
                f"no image tagged {commit} in {where}; did the build push "
                f"{repo_uri}:{commit}? (tag images with the full commit SHA)",
                kind="not-found",
                code="ImageNotFoundException",
                operation="DescribeImages",
                iam_action="ecr:DescribeImages",
                resource=image_where,
            ) from err
    details = resp.get("imageDetails", [])
    if not details:
        raise AwsError(
            f"no image tagged {commit} in {where}", kind="not-found", resource=image_where
        )
    image = details[0]
    digest = image["imageDigest"]
    return ImageRef(
        registry_id=repo["registryId"],
        repository=config.repository,
        repository_uri=repo_uri,
        tag=commit,
        digest=digest,
        reference=f"{repo_uri}@{digest}",
        pushed_at=image.get("imagePushedAt"),
        size_bytes=image.get("imageSizeInBytes"),
    )
