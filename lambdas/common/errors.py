"""Errors the handlers raise and the reading of AWS errors: branch on the code, never on the text."""

from __future__ import annotations

import re

from botocore.exceptions import BotoCoreError, ClientError

NOT_FOUND_CODES = ("ValidationException", "ResourceNotFound", "ResourceNotFoundException")
ACCESS_DENIED_CODES = (
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
)
CAPACITY_CODES = (
    "ResourceLimitExceeded",
    "InsufficientCapacity",
    "InsufficientCapacityError",
    "CapacityError",
)
TRANSIENT_CODES = (
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestThrottledException",
    "SlowDown",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalServerError",
    "InternalError",
)
_MISSING_PERMISSION_PATTERN = re.compile(r"perform:\s*([A-Za-z0-9-]+:[A-Za-z0-9]+)")


class ConfigurationError(ValueError):
    """Bad configuration or input: the message says what to change."""


def error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def is_not_found(error: BaseException) -> bool:
    """Describe* of a name we validated up front: SageMaker answers ValidationException."""
    return error_code(error) in NOT_FOUND_CODES


def is_access_denied(error: BaseException) -> bool:
    return error_code(error) in ACCESS_DENIED_CODES


def is_capacity_error(error: BaseException) -> bool:
    return error_code(error) in CAPACITY_CODES


def is_condition_failed(error: BaseException) -> bool:
    return error_code(error) == "ConditionalCheckFailedException"


def missing_permission(error: ClientError) -> str:
    """The IAM action an AccessDenied error names, else the API operation that was refused."""
    message = str(error.response.get("Error", {}).get("Message", ""))
    found = _MISSING_PERMISSION_PATTERN.search(message)
    return found.group(1) if found else error.operation_name


def describe_error(error: BaseException) -> str:
    """One line for a user: what failed and what to do."""
    if isinstance(error, ClientError):
        code = error_code(error)
        message = error.response.get("Error", {}).get("Message", "")
        if code in ACCESS_DENIED_CODES:
            return (
                f"Permission missing: {missing_permission(error)} was denied ({code} in "
                f"{error.operation_name}). Add it to the function's role in the stack template."
            )
        if (
            code in TRANSIENT_CODES
            or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
        ):
            return (
                f"AWS kept failing {error.operation_name} ({code}) after retries: {message}. "
                "Retry the stage when the service recovers."
            )
        return f"{error.operation_name} failed ({code}): {message}"
    if isinstance(error, BotoCoreError):
        return f"AWS call failed: {error}"
    return f"{type(error).__name__}: {error}"
