"""The authorization server's pages: login, consent and error, rendered on the server as small,
accessible HTML that needs no JavaScript (labels for every field, a language, a heading per page,
the error announced with role="alert"). Every value shown is escaped; the pages load nothing from
anywhere, which their Content-Security-Policy enforces (`default-src 'none'`, the one stylesheet
inline by its hash), their forms post only here and redirect only to the client's registered
redirect URI (`form-action`), and no site may frame them (`frame-ancestors 'none'`).
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from collections.abc import Iterable, Mapping
from html import escape

from aiohttp import web

SCOPE_WORDS = {  # seed 000 §3.4, as a person reads them
    "cifer:read": "Read the metadata of your CIFERs",
    "cifer:create": "Create new CIFERs",
    "cifer:delete": "Revoke CIFERs",
    "encrypt": "Encrypt data",
    "decrypt": "Decrypt data",
    "admin": "Administer CIFER (every operation)",
}
STYLE = ("body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#111}"
         "label{display:block;margin-top:1rem}input[type=text],input[type=password]{width:100%;padding:.5rem;"
         "font-size:1rem;box-sizing:border-box}button{margin-top:1.25rem;padding:.5rem 1.25rem;font-size:1rem}"
         ".error{color:#a00;border-left:4px solid #a00;padding-left:.5rem}ul{padding-left:1.25rem}")
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
POLICY = f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; frame-ancestors 'none'; base-uri 'none'"
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the page's URL holds the request's state and challenge
    "Cache-Control": "no-store",
}


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)} · CIFER</title>'
            f"<style>{STYLE}</style></head><body><main><h1>{escape(title)}</h1>{body}</main></body></html>")


def _hidden(fields: Mapping[str, str]) -> str:
    return "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items())


def _error(message: str | None) -> str:
    return f'<p class="error" role="alert">{escape(message)}</p>' if message else ""


def login(*, client_name: str, action: str, csrf: str, error: str | None = None, username: str = "") -> str:
    return _page("Sign in", (
        f"<p>to continue to <strong>{escape(client_name)}</strong></p>{_error(error)}"
        f'<form method="post" action="{escape(action)}">{_hidden({"csrf": csrf, "step": "login"})}'
        f'<label for="username">Username</label>'
        f'<input type="text" id="username" name="username" autocomplete="username" required maxlength="64" '
        f'value="{escape(username)}" autofocus>'
        f'<label for="password">Password</label>'
        f'<input type="password" id="password" name="password" autocomplete="current-password" required '
        f'maxlength="256"><button type="submit">Sign in</button></form>'))


def consent(*, client_name: str, username: str, scopes: Iterable[str], action: str, csrf: str) -> str:
    items = "".join(f"<li>{escape(SCOPE_WORDS.get(s, s))} <code>{escape(s)}</code></li>" for s in scopes)
    return _page("Allow access?", (
        f"<p>Signed in as <strong>{escape(username)}</strong>.</p>"
        f"<p><strong>{escape(client_name)}</strong> asks to act for you with CIFER:</p><ul>{items}</ul>"
        f'<form method="post" action="{escape(action)}">{_hidden({"csrf": csrf, "step": "consent"})}'
        f'<button type="submit" name="decision" value="allow">Allow</button> '
        f'<button type="submit" name="decision" value="deny">Deny</button></form>'))


def error(title: str, message: str) -> str:
    return _page(title, f'<p role="alert">{escape(message)}</p>')


def respond(html: str, *, status: int = 200, redirects_to: str | None = None) -> web.Response:
    """The page, with its policy: its forms post only to this server, whose answer may redirect only
    to `redirects_to` (the request's redirect URI, validated: browsers hold a form's redirects to
    `form-action` too)."""
    target = ""
    if redirects_to:
        parts = urllib.parse.urlsplit(redirects_to)
        target = f" {parts.scheme}://{parts.netloc}"
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8",
                        headers={**HEADERS, "Content-Security-Policy": f"{POLICY}; form-action 'self'{target}"})
