"""The chart sets every rate limit (`keyservice.rateLimits`), schema-checked: each override
reaches the key service as `--rate-limit CATEGORY=LIMIT/WINDOW_S`, which `cifer keyservice`
accepts; a category that does not exist or a malformed limit fails at install."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
import yaml

from cifer.cli import build_parser
from cifer_keyservice.cli import settings_from
from cifer_keyservice.settings import FixedWindow, RateLimits

from .helm import CHART, RELEASE, helm, named, render


def _keyservice_args(*args: str) -> list[str]:
    deployment = named(render(*args), "Deployment", f"{RELEASE}-keyservice")
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "keyservice"]
    return container["args"]


def test_values_and_schema_name_every_category_of_the_key_service_with_its_default():
    schema = json.loads((CHART / "values.schema.json").read_text())
    categories = schema["properties"]["keyservice"]["properties"]["rateLimits"]["properties"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())["keyservice"]["rateLimits"]
    defaults = {f.name: getattr(RateLimits(), f.name) for f in dataclasses.fields(RateLimits)
                if isinstance(getattr(RateLimits(), f.name), FixedWindow)}
    assert set(categories) == set(defaults) == set(values)
    for name, window in defaults.items():
        assert values[name] == f"{window.limit}/{window.window_s}"
        assert f"default {window.limit}/{window.window_s}." in categories[name]["description"]


def test_each_override_reaches_the_key_service_as_a_flag_it_accepts(tmp_path):
    args = _keyservice_args("--set", "keyservice.rateLimits.workload_decrypt=240000/60",
                            "--set", "keyservice.rateLimits.decrypt=500/60")
    flags = [args[i + 1] for i, arg in enumerate(args) if arg == "--rate-limit"]
    assert {"decrypt=500/60", "workload_decrypt=240000/60", "create=10/3600"} <= set(flags)
    args[args.index("--data-dir") + 1] = str(tmp_path)  # not the pod's /var/lib/cifer
    parsed = build_parser().parse_args(["keyservice", *args[1:]])
    limits = settings_from(parsed).rate_limits
    assert (limits.decrypt, limits.workload_decrypt) == (FixedWindow(500, 60), FixedWindow(240000, 60))


@pytest.mark.parametrize("value", ["keyservice.rateLimits.decypt=500/60", "keyservice.rateLimits.decrypt=500",
                                   "keyservice.rateLimits.decrypt=0/60"])
def test_an_unknown_category_or_a_malformed_limit_fails_at_install(value):
    done = helm("template", RELEASE, CHART, "--set", value, check=False)
    assert done.returncode != 0 and re.search(r"rateLimits|schema", done.stderr), done.stderr
