"""MLflow's error shape, {"error_code", "message"}, for every refusal Axion can make.

Axion's domain errors keep their meaning: not found, invalid input, permission, conflict.
A write-once param logged with another value is MLflow's INVALID_PARAMETER_VALUE, as on
`mlflow server`; a duplicate experiment or registered-model name is RESOURCE_ALREADY_EXISTS
(the client relies on it to register a version of an existing model).
"""

from __future__ import annotations

from django.db import DataError, InterfaceError, OperationalError

from axion_registry.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionRefused,
    TooLarge,
    Unavailable,
)
from experiments_app.errors import BatchTooLarge, DuplicateExperiment, ParamConflict
from mlflow_app.grammar import FilterSyntaxError
from mlflow_app.shapes import ShapeError
from models_app.errors import DuplicateModel

RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
PERMISSION_DENIED = "PERMISSION_DENIED"
UNAUTHENTICATED = "UNAUTHENTICATED"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
INVALID_STATE = "INVALID_STATE"
RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
NOT_IMPLEMENTED = "NOT_IMPLEMENTED"


class MlflowError(Exception):
    """An answer in MLflow's error shape."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def invalid(message: str) -> MlflowError:
    return MlflowError(INVALID_PARAMETER_VALUE, message, 400)


def not_found(message: str) -> MlflowError:
    return MlflowError(RESOURCE_DOES_NOT_EXIST, message, 404)


def unauthenticated(message: str) -> MlflowError:
    return MlflowError(UNAUTHENTICATED, message, 401)


_DOMAIN: list[tuple[type[DomainError], str, int]] = [
    (DuplicateExperiment, RESOURCE_ALREADY_EXISTS, 400),
    (DuplicateModel, RESOURCE_ALREADY_EXISTS, 400),
    (ParamConflict, INVALID_PARAMETER_VALUE, 400),
    (NotFound, RESOURCE_DOES_NOT_EXIST, 404),
    (PermissionRefused, PERMISSION_DENIED, 403),
    (BatchTooLarge, INVALID_PARAMETER_VALUE, 400),  # as mlflow server answers it
    (TooLarge, RESOURCE_EXHAUSTED, 413),
    (Conflict, INVALID_STATE, 409),
    (Unavailable, TEMPORARILY_UNAVAILABLE, 503),
    (InvalidInput, INVALID_PARAMETER_VALUE, 400),
]


def as_mlflow_error(exc: Exception) -> MlflowError | None:
    """The MLflow error for an exception we can explain, else None (a bug: let it raise)."""
    if isinstance(exc, MlflowError):
        return exc
    if isinstance(exc, ShapeError | FilterSyntaxError):
        return invalid(str(exc))
    if isinstance(exc, DomainError):
        for kind, code, status in _DOMAIN:
            if isinstance(exc, kind):
                return MlflowError(code, exc.message, status)
        return invalid(exc.message)
    if isinstance(exc, OperationalError | InterfaceError):
        return MlflowError(TEMPORARILY_UNAVAILABLE,
                           "The database did not answer; try again in a moment.", 503)
    if isinstance(exc, DataError):
        reason = str(exc).splitlines()[0] if str(exc) else "a value is out of range"
        return invalid(f"The request holds a value the database cannot store: {reason}.")
    return None
