"""TLS for every hop that carries a key or a credential: the servers' contexts, which take a
renewed certificate without a restart; the clients' contexts, which verify the server against a
CA bundle; and the one rule for plain `http://` URLs.

- `ServerCertificate(cert_file, key_file).context` is the `ssl.SSLContext` a server listens
  with. Every handshake first looks at the two files (a `stat`; their bytes only when it
  changed); when they hold a new certificate and key that load together, a fresh context is
  made and the handshake is moved onto it (`sni_callback`, which OpenSSL calls on every
  ClientHello, with or without SNI). New connections get the new certificate; established
  ones keep theirs; a half-written pair (the certificate replaced, its key not yet) is not
  taken, and the last good certificate goes on serving. This is how a Secret volume renewed
  by cert-manager or the chart reaches the key service and the inference server.
- `client_context(ca)` verifies the server's certificate and host name against `ca`: a CA
  bundle file, or the PEM text itself (how the injector hands the bundle to sidecars in other
  namespaces); None: the system's trust store.
- `require_tls(url, ...)` refuses a plain `http://` URL unless its host is loopback or the
  caller was explicitly told to allow it.

TLS 1.2 and later only, with the standard library's secure defaults otherwise.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import ssl
from pathlib import Path

from yarl import URL

from cifer.exceptions import CoreError
from cifer.settings import setting

log = logging.getLogger("cifer.tls")
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2
LOOPBACK_NAMES = frozenset({"localhost"})
# The flag of SidecarSettings and OperatorSettings (spelled there too, so that grep finds them) that allows it.
ALLOW_PLAINTEXT_KEYSERVICE = "--insecure-allow-plaintext-keyservice"


class TlsError(CoreError):
    """TLS material that cannot be used (a missing or malformed file), or a plain URL that is
    not allowed; the message says which, in one line, without the material itself."""


# ------------------------------------------------------------------ servers


@dataclasses.dataclass(frozen=True)
class ServerTlsSettings:
    """Serve HTTPS with this certificate (the key service, the inference service). Both files
    go together; they may be replaced while the server runs (a Secret volume renewed by
    cert-manager or the chart): new connections get the new certificate, no restart."""

    cert_file: Path = setting("--tls-cert-file", env="CIFER_TLS_CERT_FILE", metavar="FILE")
    """The server's certificate chain (PEM), leaf first: `tls.crt` of a kubernetes.io/tls Secret."""
    key_file: Path = setting("--tls-key-file", env="CIFER_TLS_KEY_FILE", metavar="FILE")
    """Its private key (PEM): `tls.key`."""



def _server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = MINIMUM_VERSION
    context.load_cert_chain(cert_file, key_file)
    return context


def _signature(*paths: Path) -> tuple:
    """What changes when a file is replaced, in place or by a Secret volume's symlink swap."""
    stats = [os.stat(path) for path in paths]
    return tuple((s.st_ino, s.st_dev, s.st_size, s.st_mtime_ns) for s in stats)


class ServerCertificate:
    """A server's certificate and key files, reloaded when they change (see the module's docstring)."""

    def __init__(self, cert_file: str | Path, key_file: str | Path) -> None:
        self.cert_file, self.key_file = Path(cert_file), Path(key_file)
        try:
            self._seen = _signature(self.cert_file, self.key_file)
            self._loaded = self._read()
            self.context = _server_context(self.cert_file, self.key_file)
            """The context to listen with; its handshakes move onto the newest certificate."""
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(f"the TLS certificate {self.cert_file} and key {self.key_file} cannot be used: "
                           f"{_reason(exc)}") from None
        self.context.sni_callback = self._on_hello
        self._current = self.context  # until a renewed certificate is taken
        self.reloads = 0
        """How many renewed certificates were taken (for tests and logs)."""

    @classmethod
    def of(cls, settings: ServerTlsSettings | None) -> ServerCertificate | None:
        """The certificate `settings` name; None for none (plain HTTP)."""
        return None if settings is None else cls(settings.cert_file, settings.key_file)

    def _read(self) -> tuple[bytes, bytes]:
        return self.cert_file.read_bytes(), self.key_file.read_bytes()

    def current(self) -> ssl.SSLContext:
        """The context of the newest certificate that loads, after looking at the files."""
        try:
            signature = _signature(self.cert_file, self.key_file)
            if signature != self._seen:
                contents = self._read()
                if contents != self._loaded:
                    fresh = _server_context(self.cert_file, self.key_file)
                    self._current, self._loaded = fresh, contents
                    self.reloads += 1
                    log.info("TLS certificate %s reloaded", self.cert_file)
                self._seen = signature
        except (OSError, ssl.SSLError) as exc:  # mid-replacement: keep serving the last good one
            log.debug("TLS certificate %s not reloaded yet: %s", self.cert_file, _reason(exc))
        return self._current

    def _on_hello(self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None,
                  context: ssl.SSLContext) -> None:
        connection.context = self.current()


# ------------------------------------------------------------------ clients


def is_pem(ca: str) -> bool:
    return "-----BEGIN" in ca


def client_context(ca: str | None) -> ssl.SSLContext:
    """A context that verifies the server against `ca`: a CA bundle file, or PEM text; None:
    the system's trust store. TlsError names the bundle (never its text) when it cannot be used."""
    context = ssl.create_default_context()
    context.minimum_version = MINIMUM_VERSION
    if ca is not None:
        try:
            if is_pem(ca):
                context.load_verify_locations(cadata=ca)
            else:
                context.load_verify_locations(cafile=ca)
        except (OSError, ssl.SSLError, ValueError) as exc:
            where = "the CA bundle given as PEM" if is_pem(ca) else f"the CA bundle {ca}"
            raise TlsError(f"{where} cannot be used: {_reason(exc)}") from None
    return context


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc) or type(exc).__name__


# ------------------------------------------------------------------ plain HTTP


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or `localhost`: traffic that never leaves the machine."""
    if not host:
        return False
    if host.lower().rstrip(".") in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_tls(url: str, *, what: str, allow_plaintext: bool, allow_flag: str) -> None:
    """TlsError unless `url` is https, or http to a loopback host, or `allow_plaintext` (the
    caller's `allow_flag`, which then logs a warning). `what` names the setting, e.g.
    `--keyservice-url`."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        raise TlsError(f"{what} is not a URL") from None
    if parsed.scheme == "https" and parsed.host:
        return
    if parsed.scheme != "http" or not parsed.host:
        raise TlsError(f"{what} must be an https:// URL, not {_shown(parsed)}")
    if is_loopback(parsed.host):
        return
    if allow_plaintext:
        log.warning("%s %s is plain HTTP off this machine (%s): keys and credentials cross the network "
                    "in clear; for development only", what, _shown(parsed), allow_flag)
        return
    raise TlsError(f"{what} {_shown(parsed)} is plain HTTP to a host that is not loopback: use https:// "
                   f"(and a CA bundle), or pass {allow_flag} for development only")


def require_keyservice_tls(url: str, *, allow_plaintext: bool, what: str = "--keyservice-url") -> None:
    """`require_tls` for a key-service URL, whose plain use `ALLOW_PLAINTEXT_KEYSERVICE` allows."""
    require_tls(url, what=what, allow_plaintext=allow_plaintext, allow_flag=ALLOW_PLAINTEXT_KEYSERVICE)


def _shown(url: URL) -> str:
    return str(url.with_user(None)) if url.is_absolute() else repr(str(url))[:80]
