"""What every handler is given as kopf's `memo`: the settings and the clients, made at startup."""

from __future__ import annotations

import dataclasses

from cifer.sdk import AsyncCiferClient
from cifer_operator.kube import Kube
from cifer_operator.settings import OperatorSettings


@dataclasses.dataclass
class Context:
    settings: OperatorSettings
    keyservice: AsyncCiferClient
    kube: Kube
    secret_digests: dict[str, str] = dataclasses.field(default_factory=dict)
    """CiferWebhook uid -> digest of the signing secret last sent, to notice a rotated Secret."""
