"""A browser without a browser, for tests of headers, redirects and forms: cookies kept,
redirects not followed, every header visible."""

from __future__ import annotations

import http.client
import re
import urllib.parse


class Client:
    """One browser: cookies kept, redirects not followed, headers visible."""

    def __init__(self, base: str) -> None:
        parts = urllib.parse.urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None,
                headers: dict | None = None) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            h = dict(headers or {})
            if self.cookies:
                h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            body = urllib.parse.urlencode(form) if form is not None else None
            if body is not None:
                h["Content-Type"] = "application/x-www-form-urlencoded"
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            for k, v in resp.getheaders():
                if k.lower() == "set-cookie":
                    name, _, rest = v.partition("=")
                    self.cookies[name] = rest.split(";")[0].strip('"')
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode(
                errors="replace")
        finally:
            conn.close()

    def login(self, name: str, password: str) -> int:
        _, _, page = self.request("GET", "/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        status, _, _ = self.request("POST", "/login", {"csrf": csrf, "name": name,
                                                       "password": password})
        return status
