"""Map botocore errors to `AwsError`: retryable or not, with a message a person can act on.

Throttling and 5xx are retried *inside* botocore first (`retry_config()`: standard
mode, bounded attempts); what still escapes is raised as `AwsError(retryable=True)`
so the Temporal activity retry policy takes over. Access denied names the IAM
action (`ecr:DescribeImages`) and the resource; not-found names the resource.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
)
from pydantic import BaseModel

ErrorKind = Literal["retryable", "access-denied", "not-found", "invalid", "credentials", "failed"]

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "ServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ExpiredToken",  # role credentials refresh on the next attempt
        "ExpiredTokenException",
        "RequestExpired",
        "OperationAborted",
    }
)
ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedException",
        "AuthorizationError",
        "Forbidden",
        "403",
    }
)
CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "InvalidSignatureException",
        "AuthFailure",
        "MissingAuthenticationToken",
    }
)
NOT_FOUND_CODES = frozenset(
    {
        "NotFound",
        "404",
        "NoSuchBucket",
        "NoSuchKey",
        "ResourceNotFound",
        "NoSuchEntity",
    }
)
INVALID_CODES = frozenset(
    {
        "ValidationException",
        "ValidationError",
        "InvalidParameterException",
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "InvalidInputException",
        "InvalidRequest",
        "InvalidArgument",
        "AccountLimitExceededException",
    }
)

# IAM actions whose name differs from the API operation.
_IAM_ACTION_OVERRIDES: dict[tuple[str, str], str] = {
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "GetObjectAttributes"): "s3:GetObject",
}
_ACTION_IN_MESSAGE = re.compile(r"perform:? ([a-z0-9-]+:[A-Za-z0-9*]+)")
_RESOURCE_IN_MESSAGE = re.compile(r"on resource:? (\S+)")


class AwsErrorInfo(BaseModel):
    """JSON form of an `AwsError`, safe to put in Temporal failure details."""

    kind: ErrorKind
    retryable: bool
    message: str
    code: str = ""
    operation: str = ""
    iam_action: str | None = None
    resource: str | None = None


class AwsError(Exception):
    """An AWS call failed. `retryable=False` means retrying cannot help."""

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind,
        retryable: bool | None = None,
        code: str = "",
        operation: str = "",
        iam_action: str | None = None,
        resource: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind: ErrorKind = kind
        self.retryable = kind == "retryable" if retryable is None else retryable
        self.code = code
        self.operation = operation
        self.iam_action = iam_action
        self.resource = resource

    def info(self) -> AwsErrorInfo:
        """The error as a pydantic model (no secrets, JSON-serialisable)."""
        return AwsErrorInfo(
            kind=self.kind,
            retryable=self.retryable,
            message=self.message,
            code=self.code,
            operation=self.operation,
            iam_action=self.iam_action,
            resource=self.resource,
        )


def retry_config(
    *, max_attempts: int = 8, mode: Literal["standard", "adaptive"] = "standard"
) -> Config:
    """botocore config: built-in retries (throttling, 5xx, connection errors) and timeouts.

    `max_attempts` counts every attempt, the first included.
    """
    return Config(
        retries={"mode": mode, "total_max_attempts": max_attempts},
        connect_timeout=10,
        read_timeout=60,
    )


def iam_action(service: str, operation: str) -> str:
    """IAM action for an API operation: `('ecr', 'DescribeImages')` -> `ecr:DescribeImages`."""
    return _IAM_ACTION_OVERRIDES.get((service, operation), f"{service}:{operation}")


def service_of(client: Any) -> str:
    """The IAM service prefix of a boto3 client (`ecr`, `codebuild`, `logs`, `s3`)."""
    model = client.meta.service_model
    return str(getattr(model, "signing_name", None) or model.endpoint_prefix)


def from_client_error(err: ClientError, *, service: str, resource: str) -> AwsError:
    """Classify one `ClientError` from `service` acting on `resource`."""
    error = err.response.get("Error", {})
    code = str(error.get("Code", ""))
    aws_message = " ".join(str(error.get("Message", "") or "").split())[:300]
    status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    op = err.operation_name
    action = iam_action(service, op)
    common: dict[str, Any] = {"code": code, "operation": op, "resource": resource}
    detail = f" ({code}: {aws_message})" if aws_message else f" ({code})"

    if code in THROTTLING_CODES or code in TRANSIENT_CODES or status >= 500:
        return AwsError(
            f"{action} on {resource} failed transiently after botocore's retries{detail}",
            kind="retryable",
            **common,
        )
    if code in ACCESS_DENIED_CODES or (status == 403 and code not in CREDENTIAL_CODES):
        m = _ACTION_IN_MESSAGE.search(aws_message)
        denied = m.group(1) if m else action
        r = _RESOURCE_IN_MESSAGE.search(aws_message)
        on = r.group(1).rstrip(".") if r else resource
        return AwsError(
            f"access denied: the worker's AWS identity may not call {denied} on {on}; "
            f"grant {denied} on that resource (see deploy/aws/iam-policy.json){detail}",
            kind="access-denied",
            iam_action=denied,
            **{**common, "resource": on},
        )
    if code in CREDENTIAL_CODES:
        return AwsError(
            f"AWS rejected the worker's credentials calling {action}{detail}; check the "
            "profile, role or AWS_* environment variables the worker runs with",
            kind="credentials",
            iam_action=action,
            **common,
        )
    if code in NOT_FOUND_CODES or code.endswith("NotFoundException") or status == 404:
        return AwsError(
            f"not found: {resource} ({action}){detail}",
            kind="not-found",
            iam_action=action,
            **common,
        )
    if code in INVALID_CODES:
        return AwsError(
            f"{action} on {resource} was rejected as invalid{detail}",
            kind="invalid",
            iam_action=action,
            **common,
        )
    return AwsError(
        f"{action} on {resource} failed{detail}",
        kind="failed",
        retryable=False,
        iam_action=action,
        **common,
    )


def from_botocore_error(err: BotoCoreError, *, service: str, resource: str) -> AwsError:
    """Classify a client-side botocore error (network, credentials, parameters)."""
    if isinstance(err, ConnectionError | HTTPClientError):
        return AwsError(
            f"could not reach {service} for {resource}: {err}",
            kind="retryable",
            resource=resource,
        )
    if isinstance(
        err,
        NoCredentialsError
        | PartialCredentialsError
        | CredentialRetrievalError
        | ProfileNotFound
        | NoRegionError,
    ):
        return AwsError(
            f"AWS credentials/region not configured for the worker ({err}); credentials come "
            "only from the worker's environment: AWS_PROFILE, an instance/task role, or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
            kind="credentials",
            resource=resource,
        )
    if isinstance(err, ParamValidationError):
        return AwsError(f"bad request for {resource}: {err}", kind="invalid", resource=resource)
    return AwsError(
        f"{service} call for {resource} failed: {err}", kind="failed", resource=resource
    )


@contextmanager
def aws_errors(client: Any, resource: str) -> Iterator[None]:
    """Translate botocore exceptions raised in the block into `AwsError`."""
    try:
        yield
    except ClientError as err:
        raise from_client_error(err, service=service_of(client), resource=resource) from err
    except BotoCoreError as err:
        raise from_botocore_error(err, service=service_of(client), resource=resource) from err


def error_code(err: BaseException) -> str:
    """The AWS error code of a `ClientError` (or its `AwsError` wrapper), else ''."""
    if isinstance(err, AwsError):
        return err.code
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code", ""))
    return ""
