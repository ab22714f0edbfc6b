"""The sidecar's shared objects, by typed application key."""

from aiohttp import web

from cifer_proxy.callbacks import Callbacks
from cifer_proxy.decaps import Decapsulations
from cifer_proxy.identity import Identity
from cifer_proxy.inference import PodInference
from cifer_proxy.keycache import KeyViews, PublicKeys, VouchedCredentials
from cifer_proxy.keyservice import KeyServiceClient
from cifer_proxy.metrics import SidecarMetrics
from cifer_proxy.usage import UsageReporter
from cifer_proxy.encryptlimit import EncryptLimit
from cifer.settings.sidecar import SidecarSettings

SETTINGS = web.AppKey("settings", SidecarSettings)
KEYSERVICE = web.AppKey("keyservice", KeyServiceClient)
DECAPS = web.AppKey("decaps", Decapsulations)
PUBLIC_KEYS = web.AppKey("public_keys", PublicKeys)
CREDENTIALS = web.AppKey("credentials", VouchedCredentials)
IDENTITY = web.AppKey("identity", Identity)
METRICS = web.AppKey("metrics", SidecarMetrics)
INFERENCE = web.AppKey("inference", PodInference)
USAGE = web.AppKey("usage", UsageReporter)
ENCRYPT_LIMIT = web.AppKey("encrypt_limit", EncryptLimit)  # absent: no limit (the default)
CALLBACKS = web.AppKey("callbacks", Callbacks)  # seed 001 batch callbacks and queued batches
KEY_VIEWS = web.AppKey("key_views", KeyViews)  # seed 001: which key a user's data type goes to
