"""`cifer operator`: the kopf operator, as its Deployment runs it."""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path

from cifer_operator.injection import InjectorSettings
from cifer_operator.settings import DEFAULT_PEERING, DEFAULT_TOKEN_FILE, OperatorSettings, WebhookServerSettings


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("operator", help="run the operator (CiferKey and CiferWebhook resources)")
    parser.add_argument("--keyservice-url", default=os.environ.get("CIFER_KEYSERVICE_URL"),
                        help="the key service (default $CIFER_KEYSERVICE_URL)")
    parser.add_argument("--token-file", type=Path, default=None,
                        help=f"the operator's projected ServiceAccount token (default {DEFAULT_TOKEN_FILE} if "
                             "present; else $CIFER_API_KEY)")
    parser.add_argument("--namespace", action="append", default=[], metavar="NS",
                        help="watch only this namespace (repeatable; default: the whole cluster)")
    peering = parser.add_mutually_exclusive_group()
    peering.add_argument("--peering", default=DEFAULT_PEERING,
                         help="the ClusterKopfPeering replicas share (default %(default)s)")
    peering.add_argument("--standalone", action="store_true", help="no peering: only for a single replica")
    parser.add_argument("--priority", type=int, default=None,
                        help="peering priority: the highest replica acts, the others wait (default: random, so "
                             "that replicas never tie; kopf pauses every replica of a tied priority)")
    parser.add_argument("--peering-lifetime", type=int, default=OperatorSettings.peering_lifetime_s, metavar="SECONDS",
                        help="how long a replica that died silently keeps the others paused (default %(default)s)")
    parser.add_argument("--status-refresh", type=float, default=OperatorSettings.status_refresh_s,
                        metavar="SECONDS", help="how often statuses are compared with the key service")
    hook = parser.add_argument_group("validating admission webhook")
    hook.add_argument("--webhook-addr", default=WebhookServerSettings.addr, help="address to listen on")
    hook.add_argument("--webhook-port", type=int, default=WebhookServerSettings.port, help="port to listen on")
    hook.add_argument("--webhook-host", default=None, help="host name the API server calls (default: the address)")
    hook.add_argument("--webhook-cert", type=Path, default=None, help="serving certificate (default: self-signed)")
    hook.add_argument("--webhook-key", type=Path, default=None, help="its private key")
    hook.add_argument("--webhook-ca", type=Path, default=None, help="CA bundle for the API server")
    hook.add_argument("--certificate-check", type=float, default=OperatorSettings.certificate_check_s,
                      metavar="SECONDS", help="how often to look for a renewed certificate (then exit, to be "
                                              "restarted with it; default %(default)s)")
    hook.add_argument("--webhook-manage", default=None, metavar="NAME",
                      help="keep the ValidatingWebhookConfiguration NAME up to date (default: installed by the chart)")
    inject = parser.add_argument_group("sidecar injection webhook")
    inject.add_argument("--inject-port", type=int, default=None,
                        help="serve the injection webhook on this port (paths /inject/namespace, /inject/pod)")
    inject.add_argument("--proxy-image", default=None, help="the image of the injected cifer-proxy container")
    inject.add_argument("--inject-keyservice-url", default=None,
                        help="the key service as sidecars reach it (default: --keyservice-url)")
    inject.add_argument("--inference-url", default=None, help="the inference service, when installed")
    inject.add_argument("--inject-exclude-namespace", action="append", default=[], metavar="NS",
                        help="never inject here (repeatable; default: $POD_NAMESPACE, the operator's own)")
    parser.add_argument("--liveness", default=None, metavar="URL", help="serve a liveness probe (http://0.0.0.0:8081/healthz)")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.keyservice_url:
        raise SystemExit("cifer operator: name the key service with --keyservice-url or $CIFER_KEYSERVICE_URL")
    if bool(args.webhook_cert) != bool(args.webhook_key):
        raise SystemExit("cifer operator: --webhook-cert and --webhook-key go together")
    token_file = args.token_file or (DEFAULT_TOKEN_FILE if DEFAULT_TOKEN_FILE.exists() else None)
    api_key = os.environ.get("CIFER_API_KEY") or None
    if token_file is None and api_key is None:
        raise SystemExit("cifer operator: no identity for the key service: --token-file or $CIFER_API_KEY")
    injector = None
    if args.inject_port is not None:
        if not args.proxy_image:
            raise SystemExit("cifer operator: --inject-port needs --proxy-image")
        own = [os.environ["POD_NAMESPACE"]] if os.environ.get("POD_NAMESPACE") else []
        injector = InjectorSettings(
            image=args.proxy_image, keyservice_url=args.inject_keyservice_url or args.keyservice_url,
            inference_url=args.inference_url, exclude_namespaces=frozenset(args.inject_exclude_namespace or own))
    webhook = WebhookServerSettings(
        addr=args.webhook_addr, port=args.webhook_port, host=args.webhook_host, certfile=args.webhook_cert,
        pkeyfile=args.webhook_key, cafile=args.webhook_ca, managed=args.webhook_manage)
    settings = OperatorSettings(
        keyservice_url=args.keyservice_url, token_file=token_file, api_key=api_key, namespaces=tuple(args.namespace),
        peering=None if args.standalone else args.peering,
        priority=args.priority if args.priority is not None else secrets.randbelow(2**31 - 1) + 1,
        peering_lifetime_s=args.peering_lifetime,
        status_refresh_s=args.status_refresh, webhook=webhook, liveness_endpoint=args.liveness,
        inject_port=args.inject_port, injector=injector, certificate_check_s=args.certificate_check)
    from cifer_operator.main import main  # kopf is imported only when the operator runs
    main(settings, verbose=args.verbose)
    return 0
