"""The one exception hierarchy of dynoxide-streams.

Every error a client can see is a :class:`DynamoDBError` subclass carrying its AWS
name, HTTP status, namespace and message. Code anywhere raises these; only ``wire/``
renders them (as DynamoDB JSON, or Lambda REST-JSON) — see ``wire/errors.py``.
"""

from __future__ import annotations

from typing import Any, ClassVar

DYNAMODB_NAMESPACE = "com.amazonaws.dynamodb.v20120810"
CORAL_SERVICE_NAMESPACE = "com.amazon.coral.service"
CORAL_VALIDATE_NAMESPACE = "com.amazon.coral.validate"


class DynamoDBError(Exception):
    """Base of every client-visible error.

    ``extra`` holds modeled members beside the message (``Item`` on
    ConditionalCheckFailedException, ``CancellationReasons`` on
    TransactionCanceledException); they are rendered into the error body as-is.
    """

    name: ClassVar[str] = "DynamoDBError"
    status: ClassVar[int] = 400
    namespace: ClassVar[str] = DYNAMODB_NAMESPACE
    message_key: ClassVar[str] = "message"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__


class ValidationException(DynamoDBError):
    namespace = CORAL_VALIDATE_NAMESPACE


class SerializationException(DynamoDBError):
    namespace = CORAL_SERVICE_NAMESPACE
    message_key = "Message"


class UnknownOperationException(DynamoDBError):
    namespace = CORAL_SERVICE_NAMESPACE


class RequestEntityTooLarge(DynamoDBError):
    namespace = CORAL_SERVICE_NAMESPACE
    name = "RequestEntityTooLarge"
    status = 413


class ResourceNotFoundException(DynamoDBError):
    pass


class ResourceInUseException(DynamoDBError):
    pass


class ConditionalCheckFailedException(DynamoDBError):
    pass


class TableNotFoundException(DynamoDBError):
    pass


class LimitExceededException(DynamoDBError):
    pass


class TransactionCanceledException(DynamoDBError):
    message_key = "Message"


class IdempotentParameterMismatchException(DynamoDBError):
    message_key = "Message"


class ExpiredIteratorException(DynamoDBError):
    pass


class TrimmedDataAccessException(DynamoDBError):
    pass


class InternalServerError(DynamoDBError):
    status = 500


class ServiceUnavailable(DynamoDBError):
    """The server is shutting down and takes no more writes."""

    namespace = CORAL_SERVICE_NAMESPACE
    status = 503


class ServiceUnavailableException(DynamoDBError):
    """The server is at its connection limit (``--max-connections``)."""

    namespace = CORAL_SERVICE_NAMESPACE
    status = 503


class AccessDeniedException(DynamoDBError):
    """The request's Host is not one this server serves (DNS-rebinding protection)."""

    namespace = CORAL_SERVICE_NAMESPACE
    status = 403


MAX_LISTED_VALIDATION_ERRORS = 10
"""How many constraint violations AWS lists in one message (the count names them all)."""


def java_repr(value: Any) -> str:
    """A request value as AWS's Java service prints it inside a constraint message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + ", ".join(java_repr(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_repr(v)}" for k, v in value.items()) + "}"
    return str(value)


def constraint_violation(value: Any, where: str, rule: str) -> str:
    """One violation as AWS words it: ``Value 'x' at 'path' failed to satisfy constraint: rule``.

    A missing (``None``) value is shown as ``Value null``.
    """
    shown = "null" if value is None else f"'{java_repr(value)}'"
    return f"Value {shown} at '{where}' failed to satisfy constraint: {rule}"


def validation_error(
    messages: list[str], error: type[DynamoDBError] = ValidationException
) -> DynamoDBError:
    """The one ``N validation error(s) detected: ...`` error for a list of violations.

    The count covers every violation; at most ``MAX_LISTED_VALIDATION_ERRORS`` are
    listed, joined by ``"; "``. ``error`` picks the class (the Lambda API has its own
    ValidationException). ``messages`` must not be empty.
    """
    count = len(messages)
    noun = "error" if count == 1 else "errors"
    shown = "; ".join(messages[:MAX_LISTED_VALIDATION_ERRORS])
    return error(f"{count} validation {noun} detected: {shown}")


def table_not_found(name: str) -> ResourceNotFoundException:
    """The error AWS gives for table-level operations on a missing table."""
    return ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")


def resource_not_found() -> ResourceNotFoundException:
    """The error AWS gives for item-level operations on a missing table."""
    return ResourceNotFoundException("Requested resource not found")


# --------------------------------------------------------------------- Lambda API
LAMBDA_NAMESPACE = "lambda"


class LambdaError(DynamoDBError):
    """An error of the Lambda event source mapping API (rendered as REST-JSON:
    ``x-amzn-ErrorType`` header and ``{"Type": "User", "message": ...}``)."""

    namespace = LAMBDA_NAMESPACE


class InvalidParameterValueException(LambdaError):
    pass


class InvalidRequestContentException(LambdaError):
    pass


class LambdaValidationException(LambdaError):
    name = "ValidationException"


class LambdaResourceNotFoundException(LambdaError):
    name = "ResourceNotFoundException"
    status = 404
    message_key = "Message"


class ResourceConflictException(LambdaError):
    status = 409


class LambdaResourceInUseException(LambdaError):
    name = "ResourceInUseException"
    message_key = "Message"


class ServiceException(LambdaError):
    status = 500
    message_key = "Message"
