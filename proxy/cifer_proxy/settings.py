"""The sidecar's settings are the core's (`cifer.settings.sidecar`): the operator's injector
writes them too, and no part imports another."""

from cifer.settings.sidecar import DEFAULT_TOKEN_FILE, SidecarSettings

__all__ = ["DEFAULT_TOKEN_FILE", "SidecarSettings"]
