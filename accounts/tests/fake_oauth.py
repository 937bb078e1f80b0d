"""A fake GitHub (OAuth web flow + REST user API) on 127.0.0.1, speaking GitHub's wire format."""

from __future__ import annotations

import json
import secrets
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlparse


class FakeGitHub(BaseHTTPRequestHandler):
    """state: client_id, client_secret, user{...}, emails[...]; codes/tokens issued are kept there."""

    def log_message(self, *args):
        pass

    def _json(self, status, body):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        st = self.server.state
        url = urlparse(self.path)
        if url.path == "/login/oauth/authorize":
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            if q.get("client_id") != st["client_id"]:
                return self._json(400, {"error": "unknown client"})
            code = secrets.token_hex(8)
            st.setdefault("codes", {})[code] = q["redirect_uri"]
            self.send_response(302)
            self.send_header("Location", f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}")
            self.end_headers()
            return None
        auth = self.headers.get("Authorization", "")
        token = auth.split(" ", 1)[1] if " " in auth else ""
        if token not in st.get("tokens", set()):
            return self._json(401, {"message": "Bad credentials"})
        if url.path == "/api/v3/user":
            return self._json(200, st["user"])
        if url.path == "/api/v3/user/emails":
            return self._json(200, st["emails"])
        return self._json(404, {"message": "Not Found"})

    def do_POST(self):
        st = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if urlparse(self.path).path != "/login/oauth/access_token":
            return self._json(404, {"message": "Not Found"})
        if form.get("client_id") != st["client_id"] or form.get("client_secret") != st["client_secret"]:
            return self._json(200, {"error": "incorrect_client_credentials"})
        if form.get("code") not in st.get("codes", {}):
            return self._json(200, {"error": "bad_verification_code"})
        del st["codes"][form["code"]]  # single use
        token = "gho_" + secrets.token_hex(12)
        st.setdefault("tokens", set()).add(token)
        return self._json(200, {"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"})
