"""A small Keycloak admin REST client for the tests (client_credentials, as the Jobs log in)."""

from __future__ import annotations

import time
from typing import Any

import requests


class AdminError(AssertionError):
    """An admin call answered other than expected; the message has method, path and body."""

    def __init__(self, response: requests.Response) -> None:
        self.status = response.status_code
        request = response.request
        super().__init__(
            f"{request.method} {request.url} -> HTTP {response.status_code}: {response.text[:2000]}"
        )


class KeycloakAdmin:
    """Admin REST calls as ``client_id`` of realm ``login_realm`` at ``base_url``."""

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        client_id: str,
        client_secret: str,
        login_realm: str = "master",
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.login_realm = login_realm
        self._token: str | None = None
        self._expires = 0.0

    def token(self) -> str:
        if self._token is None or time.monotonic() > self._expires - 15:
            response = self.session.post(
                f"{self.base_url}/realms/{self.login_realm}/protocol/openid-connect/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self._secret,
                },
                timeout=60,
            )
            if response.status_code != 200:
                raise AdminError(response)
            body = response.json()
            self._token = str(body["access_token"])
            self._expires = time.monotonic() + float(body.get("expires_in", 60))
        return self._token

    def call(
        self, method: str, path: str, *, expect: tuple[int, ...] = (200, 201, 204), **kwargs: Any
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        response = self.session.request(
            method, f"{self.base_url}/admin/realms{path}", headers=headers, timeout=120, **kwargs
        )
        if response.status_code not in expect:
            raise AdminError(response)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs).json()

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, json=body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.call("PUT", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("DELETE", path, **kwargs)

    def status(self, method: str, path: str, body: Any = None) -> int:
        """The HTTP status of a call, whatever it is (for checks that expect refusals)."""
        response = self.session.request(
            method,
            f"{self.base_url}/admin/realms{path}",
            headers={"Authorization": f"Bearer {self.token()}"},
            json=body,
            timeout=120,
        )
        return response.status_code

    def realm_exists(self, realm: str) -> bool:
        return self.call("GET", f"/{realm}", expect=(200, 404)).status_code == 200
