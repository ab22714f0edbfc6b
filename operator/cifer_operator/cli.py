"""`cifer operator`: the kopf operator, as its Deployment runs it."""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets

from cifer.settings import add_flags, from_arguments
from cifer.settings.sidecar import DEFAULT_TOKEN_FILE
from cifer.tls import client_context, require_keyservice_tls
from cifer_operator.injection import InjectorSettings
from cifer_operator.settings import OperatorSettings, WebhookServerSettings


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("operator", help="run the operator (CiferKey and CiferWebhook resources)")
    add_flags(parser, OperatorSettings)
    add_flags(parser.add_argument_group("validating admission webhook"), WebhookServerSettings)
    add_flags(parser.add_argument_group("sidecar injection webhook"), InjectorSettings)
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    parser.set_defaults(func=run)


def settings_from(args: argparse.Namespace) -> OperatorSettings:
    defaults = {
        "token_file": DEFAULT_TOKEN_FILE if DEFAULT_TOKEN_FILE.exists() else None,
        "priority": secrets.randbelow(2**31 - 1) + 1,  # replicas must never tie: kopf pauses all of a tied priority
    }
    settings = from_arguments(OperatorSettings, args, injector=None, defaults=defaults)  # the injector below
    require_keyservice_tls(settings.keyservice_url, allow_plaintext=settings.insecure_allow_plaintext_keyservice)
    client_context(settings.keyservice_ca)
    if bool(settings.webhook.certfile) != bool(settings.webhook.pkeyfile):
        raise SystemExit("cifer operator: --webhook-cert and --webhook-key go together")
    if settings.token_file is None and settings.api_key is None:
        raise SystemExit("cifer operator: no identity for the key service: --token-file or $CIFER_API_KEY")
    if settings.inject_port is None:
        return settings
    if not args.proxy_image:
        raise SystemExit("cifer operator: --inject-port needs --proxy-image")
    own = os.environ.get("POD_NAMESPACE")
    injector = from_arguments(InjectorSettings, args, defaults={
        "keyservice_url": settings.keyservice_url, "keyservice_ca": settings.keyservice_ca,
        "exclude_namespaces": frozenset({own} if own else ())},
        insecure_allow_plaintext_keyservice=settings.insecure_allow_plaintext_keyservice)
    if injector.keyservice_url != settings.keyservice_url:
        require_keyservice_tls(injector.keyservice_url, what="--inject-keyservice-url",
                               allow_plaintext=injector.insecure_allow_plaintext_keyservice)
    for ca in (injector.keyservice_ca, injector.inference_ca):
        client_context(ca)  # a bundle the sidecars could not use stops the operator here
    return dataclasses.replace(settings, injector=injector)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    from cifer_operator.main import main  # kopf is imported only when the operator runs
    main(settings, verbose=args.verbose)
    return 0
