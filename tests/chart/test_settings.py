"""The chart holds to the settings that exist: every flag its templates pass to a `cifer ROLE`
container, every CIFER_* variable they set there, and every flag or variable its values.yaml
names in its documentation is a setting that role declares (cifer.settings); where a value of
the chart sets a setting, its default is the setting's default."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest
import yaml

from cifer.cli import build_parser
from cifer.keystore.config import PIN_ENV, StateSettings
from cifer.settings import Setting, declared, default_of
from cifer.settings.sidecar import SidecarSettings
from cifer_inference.settings import InferenceSettings
from cifer_keyservice.settings import KeyServiceSettings
from cifer_operator.injection import InjectorSettings
from cifer_operator.settings import OperatorSettings

from .helm import CHART, RENDERS, pod_specs, render

# The settings classes each `cifer ROLE` reads (nested ones are found by `declared`).
ROLES: dict[str, tuple[type, ...]] = {
    "keyservice": (StateSettings, KeyServiceSettings),
    "operator": (OperatorSettings,),
    "inference": (InferenceSettings,),
    "proxy": (SidecarSettings,),
}
# Read when the token is opened and never kept in settings (cifer.keystore.config).
READ_WHEN_USED = {"keyservice": {PIN_ENV}}
# values.yaml keys that set a setting: (role's settings class, field).
VALUES_THAT_ARE_SETTINGS = {
    ("keyservice", "port"): (KeyServiceSettings, "port"),
    ("keyservice", "webhooks", "allowPrivateNetworks"): (KeyServiceSettings, "webhook_allow_private_networks"),
    ("inference", "port"): (InferenceSettings, "port"),
    ("injection", "grpcPort"): (InjectorSettings, "grpc_port"),
    ("injection", "sidecarMode"): (InjectorSettings, "sidecar_mode"),
}
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
VARIABLE = re.compile(r"\bCIFER_[A-Z0-9_]+")


def _specs(role: str) -> list[Setting]:
    return [spec for cls in ROLES[role] for spec in declared(cls)]


def flags_of(role: str) -> set[str]:
    return {flag for spec in _specs(role) for flag in (spec.flag, spec.none_flag) if flag}


def variables_of(role: str) -> set[str]:
    return {spec.env for spec in _specs(role) if spec.env} | READ_WHEN_USED.get(role, set())


@cache
def cifer_containers(which: str) -> tuple[tuple[str, str, dict[str, Any]], ...]:
    """(where, role, container) of every container that runs `cifer ROLE`."""
    found = []
    for where, spec in pod_specs(render(*RENDERS[which])):
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            args = container.get("args") or []
            if args and args[0] in ROLES:
                found.append((f"{where}/{container['name']}", args[0], container))
    return tuple(found)


def test_the_renders_run_every_server_role():
    assert {role for _, role, _ in cifer_containers("all-enabled")} == {"keyservice", "operator", "inference"}


@pytest.mark.parametrize("which", list(RENDERS))
def test_every_flag_the_chart_passes_is_a_declared_setting_of_its_role(which):
    unknown = {where: sorted(set(FLAG.findall(" ".join(container["args"]))) - flags_of(role))
               for where, role, container in cifer_containers(which)}
    assert {where: flags for where, flags in unknown.items() if flags} == {}


@pytest.mark.parametrize("which", list(RENDERS))
def test_the_cli_of_each_role_accepts_the_arguments_the_chart_passes(which):
    for _, role, container in cifer_containers(which):
        build_parser(role).parse_args(container["args"])  # an unknown flag or a bad value exits


@pytest.mark.parametrize("which", list(RENDERS))
def test_every_cifer_variable_the_chart_sets_is_a_declared_setting_of_its_role(which):
    unknown = {where: sorted({var["name"] for var in container.get("env", []) if var["name"].startswith("CIFER_")}
                             - variables_of(role))
               for where, role, container in cifer_containers(which)}
    assert {where: names for where, names in unknown.items() if names} == {}


def test_every_flag_and_variable_values_yaml_documents_is_a_declared_setting():
    text = (CHART / "values.yaml").read_text()
    flags = set().union(*map(flags_of, ROLES))
    variables = set().union(*map(variables_of, ROLES))
    assert set(FLAG.findall(text)) - flags == set()
    assert set(VARIABLE.findall(text)) - variables == set()


@pytest.mark.parametrize("path", list(VALUES_THAT_ARE_SETTINGS), ids=".".join)
def test_a_value_that_sets_a_setting_defaults_to_the_settings_default(path):
    value: Any = yaml.safe_load((CHART / "values.yaml").read_text())
    for key in path:
        value = value[key]
    cls, name = VALUES_THAT_ARE_SETTINGS[path]
    (field,) = [f for f in cls.__dataclass_fields__.values() if f.name == name]
    assert value == default_of(field)
