"""The one exception hierarchy of dynoxide-streams.

Every error a client can see is a :class:`DynamoDBError` subclass carrying its AWS
name, HTTP status, namespace and message. Code anywhere raises these; only ``wire/``
renders them (as DynamoDB JSON, or Lambda REST-JSON) — see ``wire/errors.py``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import dynoxide_streams.engine.messages as messages

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
    """A request that breaks a parameter rule: its shape, a constraint or a semantic one."""

    namespace = CORAL_VALIDATE_NAMESPACE


class SerializationException(DynamoDBError):
    """A body that is not JSON, or a request member of the wrong JSON type."""

    namespace = CORAL_SERVICE_NAMESPACE
    message_key = "Message"


class UnknownOperationException(DynamoDBError):
    """An ``X-Amz-Target`` no operation answers (or, in a sidecar, any operation)."""

    namespace = CORAL_SERVICE_NAMESPACE


class RequestEntityTooLarge(DynamoDBError):
    """A request body over the size limit."""

    namespace = CORAL_SERVICE_NAMESPACE
    name = "RequestEntityTooLarge"
    status = 413


class RequestHeaderFieldsTooLarge(DynamoDBError):
    """A request line and headers over ``--max-header-bytes``."""

    namespace = CORAL_SERVICE_NAMESPACE
    name = "RequestHeaderFieldsTooLarge"
    status = 431


class ResourceNotFoundException(DynamoDBError):
    """A table, index, stream or shard that does not exist."""


class ResourceInUseException(DynamoDBError):
    """A table that already exists, or is not ACTIVE for the change asked."""


class ConditionalCheckFailedException(DynamoDBError):
    """A write whose condition is false (``Item``: the old item, when asked for)."""


class DuplicateItemException(DynamoDBError):
    """A PartiQL INSERT whose primary key already exists (INSERT is not an upsert)."""


class TableNotFoundException(DynamoDBError):
    """The continuous-backups operations' answer for a missing table."""


class LimitExceededException(DynamoDBError):
    """Too many control-plane operations at once (an upstream may answer it)."""


class TransactionCanceledException(DynamoDBError):
    """A transaction that did not commit; ``CancellationReasons`` says why, per item."""

    message_key = "Message"


class IdempotentParameterMismatchException(DynamoDBError):
    """A ClientRequestToken reused with different request parameters."""

    message_key = "Message"


class ExpiredIteratorException(DynamoDBError):
    """A shard iterator used after it expired."""


class TrimmedDataAccessException(DynamoDBError):
    """A stream position older than the records the stream still holds."""


class InternalServerError(DynamoDBError):
    """An unexpected failure inside the server."""

    status = 500


class DiskFull(InternalServerError):
    """A write refused because the database's disk is full; nothing of it was committed.

    On the wire it is DynamoDB's InternalServerError (HTTP 500), which every AWS SDK
    retries, with :data:`DISK_FULL_MESSAGE`.
    """

    name = "InternalServerError"


DISK_FULL_MESSAGE = messages.DISK_FULL.template


class ServiceUnavailable(DynamoDBError):
    """The server is shutting down and takes no more writes."""

    namespace = CORAL_SERVICE_NAMESPACE
    status = 503


class ServiceUnavailableException(DynamoDBError):
    """The server is at a capacity limit (``--max-connections``, ``--max-body-memory``)."""

    namespace = CORAL_SERVICE_NAMESPACE
    status = 503


class AccessDeniedException(DynamoDBError):
    """The request's Host is not one this server serves (DNS-rebinding protection), or
    a state-changing request comes from a page of another site (CSRF protection)."""

    namespace = CORAL_SERVICE_NAMESPACE
    status = 403


class SignatureError(DynamoDBError):
    """A request that ``--credentials`` refuses: its AWS Signature Version 4 is
    missing, malformed, by an unknown key, out of date or wrong (``wire/sigv4.py``).
    HTTP 400 on the DynamoDB protocol; the Lambda API answers these with 403."""

    namespace = CORAL_SERVICE_NAMESPACE


class MissingAuthenticationTokenException(SignatureError):
    """No ``Authorization`` header."""


class IncompleteSignatureException(SignatureError):
    """An ``Authorization`` header without its Credential, SignedHeaders or Signature,
    or a request without a date."""


class UnrecognizedClientException(SignatureError):
    """An access key id that is not in the credentials file."""


class InvalidSignatureException(SignatureError):
    """A signature that does not match, a wrong scope, or a request time more than 15
    minutes from the real clock."""


class UnsupportedMediaTypeException(DynamoDBError):
    """A state-changing admin or Lambda request whose body is not declared JSON (so a
    browser could have sent it cross-site without a preflight)."""

    namespace = CORAL_SERVICE_NAMESPACE
    status = 415


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
    return messages.VIOLATION.format(value=shown, path=where, rule=rule)


def validation_error(
    violations: list[str], error: type[DynamoDBError] = ValidationException
) -> DynamoDBError:
    """The one ``N validation error(s) detected: ...`` error for a list of violations.

    The count covers every violation; at most ``MAX_LISTED_VALIDATION_ERRORS`` are
    listed, joined by ``"; "``. ``error`` picks the class (the Lambda API has its own
    ValidationException). ``violations`` must not be empty.
    """
    count = len(violations)
    shown = "; ".join(violations[:MAX_LISTED_VALIDATION_ERRORS])
    return error(
        messages.ENVELOPE.format(count=count, plural="" if count == 1 else "s", items=shown)
    )


def table_not_found(name: str) -> ResourceNotFoundException:
    """The error AWS gives for table-level operations on a missing table."""
    return ResourceNotFoundException(messages.TABLE_NOT_FOUND.format(name=name))


def resource_not_found() -> ResourceNotFoundException:
    """The error AWS gives for item-level operations on a missing table."""
    return ResourceNotFoundException(messages.RESOURCE_NOT_FOUND.template)


# --------------------------------------------------------------------- Lambda API
LAMBDA_NAMESPACE = "lambda"


class LambdaError(DynamoDBError):
    """An error of the Lambda event source mapping API (rendered as REST-JSON:
    ``x-amzn-ErrorType`` header and ``{"Type": "User", "message": ...}``)."""

    namespace = LAMBDA_NAMESPACE


class InvalidParameterValueException(LambdaError):
    """A mapping parameter Lambda refuses on Create or Update: one breaking a rule
    between parameters, or a filter pattern that does not compile."""


class InvalidRequestContentException(LambdaError):
    """A request Lambda cannot read: a body that is not a JSON object, a member of the
    wrong JSON type, or a ``MaxItems`` that is not an integer."""


class LambdaValidationException(LambdaError):
    """A Lambda request member that breaks a constraint of its model."""

    name = "ValidationException"


class LambdaResourceNotFoundException(LambdaError):
    """A mapping UUID that does not exist, or a function name that is not registered
    with a target."""

    name = "ResourceNotFoundException"
    status = 404
    message_key = "Message"


class ResourceConflictException(LambdaError):
    """A mapping of the same source and function that already exists."""

    status = 409


class LambdaResourceInUseException(LambdaError):
    """A mapping that cannot change now (it is being deleted)."""

    name = "ResourceInUseException"
    message_key = "Message"


class ServiceException(LambdaError):
    """An unexpected failure inside the Lambda API."""

    status = 500
    message_key = "Message"
