"""The transport every part of the client shares: base URL, token, errors, pagination."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any, Self

import requests


class AxionAPIError(Exception):
    """An answer other than 2xx: the HTTP status, the API's error code and its message."""

    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class APIUnreachable(requests.ConnectionError):
    """No answer from the API (connection refused, DNS, timeout)."""


class Transport:
    """HTTP to one Axion API as one token's user; the resource mixins build on it."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 60.0,
                 session: requests.Session | None = None):
        base = base_url.rstrip("/")
        if not base.endswith("/api/v1"):
            base += "/api/v1"
        self.base_url = base
        self.token = token or None
        self.timeout = timeout
        self.session = session or requests.Session()
        if self.token:
            self.session.headers["Authorization"] = f"Token {self.token}"

    @classmethod
    def from_env(cls, **kwargs: Any) -> Self:
        """AXION_API_URL and AXION_API_TOKEN, as `make run` exports them."""
        return cls(os.environ.get("AXION_API_URL", "http://127.0.0.1:8000"),
                   os.environ.get("AXION_API_TOKEN"), **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON answer (bytes for other content, the response when streaming);
        AxionAPIError for a status >= 400, APIUnreachable when no answer came."""
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, url, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise APIUnreachable(str(exc)) from exc
        if response.status_code >= 400:
            raise api_error(response)
        if kwargs.get("stream"):
            return response
        if not response.content:
            return None
        if "json" in response.headers.get("Content-Type", ""):
            return response.json()
        return response.content

    def get(self, path: str, /, **params: Any) -> Any:
        return self.request("GET", path, params=query(params))

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("PATCH", path, json=json, **kwargs)

    def paginate(self, path: str, /, *, max_results: int | None = None,
                 **params: Any) -> Iterator[Any]:
        """Every item of a paginated list, page after page, or the first `max_results`
        (no page is fetched beyond them)."""
        page = self.get(path, **params)
        count = 0
        while True:
            for item in page["results"]:
                if max_results is not None and count >= max_results:
                    return
                yield item
                count += 1
            if not page.get("next") or (max_results is not None and count >= max_results):
                return
            page = self.request("GET", page["next"])

    def collect(self, path: str, /, *, max_results: int | None = None,
                **params: Any) -> list[dict[str, Any]]:
        """A paginated list as one list (see paginate)."""
        return list(self.paginate(path, max_results=max_results, **params))


def api_error(response: requests.Response) -> AxionAPIError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return AxionAPIError(
        response.status_code,
        str(body.get("code") or "http_error"),
        str(body.get("message") or body.get("detail") or response.reason or "error"),
        body.get("details"),
    )


def query(params: Mapping[str, Any]) -> dict[str, Any]:
    """Drop None and empty lists: requests would send them as empty parameters."""
    return {k: v for k, v in params.items() if v is not None and v != []}
