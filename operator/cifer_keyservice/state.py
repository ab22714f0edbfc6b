"""Typed application state of the key service (aiohttp AppKeys), declared once."""

from aiohttp import web

from cifer_keyservice.cifers import CiferService
from cifer_keyservice.decap import DecapService
from cifer_keyservice.settings import KeyServiceSettings

SETTINGS = web.AppKey("settings", KeyServiceSettings)
CIFERS = web.AppKey("cifers", CiferService)
DECAP = web.AppKey("decap", DecapService)
