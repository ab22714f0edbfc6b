"""Microsoft SEAL through TenSEAL's `tenseal.sealapi`: contexts, keys, ciphertexts, and the
packed evaluation of a model (the layout is in `cifer.fhe.models`).

TenSEAL's own vector API rotates only inside `matmul` (one rotation per input feature: the
seed's 245 ms), so the evaluation is written on SEAL's evaluator, which rotates by any step a
Galois key exists for. sealapi saves and loads objects only through a file name; the bridge here
hands it an anonymous in-memory file (`memfd`, named by `/proc/self/fd/N`), so nothing touches a
disk, and it only ever carries public material: parameters, evaluation keys, ciphertexts.

TenSEAL is imported on first use, so everything else in CIFER runs without it.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import dataclasses
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from cifer.exceptions import CoreError
from cifer.extras import needs
from cifer.fhe import wire
from cifer.fhe.models import Plan
from cifer.fhe.params import CkksParameters, ParameterError, check_coeff_modulus, check_ring

_SEC_LEVELS = {128: "TC128", 192: "TC192", 256: "TC256"}


class FHEUnavailable(CoreError):
    """TenSEAL is not installed (`pip install 'cifer[fhe]'`)."""


class InvalidObject(CoreError):
    """A serialized SEAL object that does not load, or does not belong to these parameters."""


class EvaluationError(CoreError):
    """A ciphertext this model cannot be evaluated on (level, size, scale, missing keys)."""


def sealapi() -> Any:
    try:
        import tenseal.sealapi as sa
    except ImportError:
        raise FHEUnavailable(needs("encrypted inference", "fhe")) from None
    return sa


def galois_element(step: int, poly_modulus_degree: int) -> int:
    """SEAL's Galois element for a rotation of the slots `step` places to the left."""
    return pow(3, step, 2 * poly_modulus_degree)


# --- the bridge: SEAL objects to and from bytes, in memory -------------------------------

class _Bridge:
    """A pool of anonymous in-memory files, one per concurrent use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: list[int] = []
        self._memfd = hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")
        self._dir = None if self._memfd else tempfile.mkdtemp(prefix="cifer-fhe-")

    @contextlib.contextmanager
    def _path(self):
        if not self._memfd:  # elsewhere than Linux: a private temporary file, removed at once
            fd, path = tempfile.mkstemp(dir=self._dir)
            try:
                yield fd, path
            finally:
                os.close(fd)
                os.unlink(path)
            return
        with self._lock:
            fd = self._free.pop() if self._free else os.memfd_create("cifer-fhe", os.MFD_CLOEXEC)
        try:
            yield fd, f"/proc/self/fd/{fd}"
        finally:
            os.ftruncate(fd, 0)  # give the memory back
            with self._lock:
                self._free.append(fd)

    def load(self, obj: Any, context: Any, blob: bytes | memoryview) -> Any:
        with self._path() as (fd, path):
            view, offset = memoryview(blob), 0
            while offset < len(view):
                offset += os.pwrite(fd, view[offset:], offset)
            if context is None:
                obj.load(path)
            else:
                obj.load(context, path)
        return obj

    def dump(self, obj: Any) -> bytes:
        with self._path() as (fd, path):
            obj.save(path)
            size = os.fstat(fd).st_size
            return os.pread(fd, size, 0)

    def close(self) -> None:
        with self._lock:
            for fd in self._free:
                os.close(fd)
            self._free.clear()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)


BRIDGE = _Bridge()
atexit.register(BRIDGE.close)  # the in-memory files, or the temporary directory where there are none


def _load(obj: Any, context: Any, blob: bytes | memoryview, what: str) -> Any:
    wire.check_seal_object(blob, what)
    try:
        return BRIDGE.load(obj, context, blob)
    except (ValueError, RuntimeError, IndexError, TypeError, MemoryError):
        raise InvalidObject(f"{what} does not load for these parameters") from None


# --- one parameter set --------------------------------------------------------------------

class CkksContext:
    """A SEAL context for one parameter set, with its encoder and evaluator. Sessions with the
    same parameters share one (SEAL's evaluator and encoder are safe to use from many threads)."""

    def __init__(self, parms: Any, security_level: int) -> None:
        sa = sealapi()
        self.parms_blob = BRIDGE.dump(parms)
        self.context = sa.SEALContext(parms, True, getattr(sa.SEC_LEVEL_TYPE, _SEC_LEVELS[security_level]))
        if not self.context.parameters_set():
            raise ParameterError(f"SEAL refuses these parameters: {self.context.parameters_error_message()}")
        self.encoder = sa.CKKSEncoder(self.context)
        self.evaluator = sa.Evaluator(self.context)
        self.poly_modulus_degree = parms.poly_modulus_degree()
        self.slot_count = self.encoder.slot_count()
        self.primes = [m.value() for m in parms.coeff_modulus()]
        self.prime_bits = tuple(m.bit_count() for m in parms.coeff_modulus())
        # chain index i keeps primes 0..i; the top data level is len(primes) - 2
        self.chain: dict[int, list[int]] = {}
        data = self.context.first_context_data()
        while data is not None:
            self.chain[data.chain_index()] = data.parms_id()
            data = data.next_context_data()

    @property
    def depth(self) -> int:
        return len(self.primes) - 2

    @classmethod
    def from_blob(cls, blob: bytes | memoryview, *, poly_modulus_degree: int, security_level: int,
                  degrees: tuple[int, ...]) -> CkksContext:
        """Serialized EncryptionParameters (a TenSEAL context's first field), checked against the
        degree the client declared and the security bound before a context is built."""
        sa = sealapi()
        parms = _load(sa.EncryptionParameters(sa.SCHEME_TYPE.CKKS), None, blob, "encryption parameters")
        if parms.scheme() != sa.SCHEME_TYPE.CKKS:
            raise ParameterError("the context is not a CKKS context")
        degree = parms.poly_modulus_degree()
        if degree != poly_modulus_degree:
            raise ParameterError(f"the context's poly_modulus_degree is {degree}, params say {poly_modulus_degree}")
        check_ring(degree, security_level, degrees)
        check_coeff_modulus(degree, tuple(m.bit_count() for m in parms.coeff_modulus()), security_level)
        return cls(parms, security_level)

    @classmethod
    def create(cls, params: CkksParameters) -> CkksContext:
        sa = sealapi()
        params.check()
        parms = sa.EncryptionParameters(sa.SCHEME_TYPE.CKKS)
        parms.set_poly_modulus_degree(params.poly_modulus_degree)
        parms.set_coeff_modulus(sa.CoeffModulus.Create(params.poly_modulus_degree, list(params.coeff_mod_bit_sizes)))
        return cls(parms, params.security_level)

    # --- objects ---------------------------------------------------------------------------

    def load_ciphertext(self, blob: bytes | memoryview) -> Any:
        return _load(sealapi().Ciphertext(), self.context, blob, "the ciphertext")

    def load_galois_keys(self, blob: bytes | memoryview) -> Any:
        return _load(sealapi().GaloisKeys(), self.context, blob, "the Galois keys")

    def load_relin_keys(self, blob: bytes | memoryview) -> Any:
        return _load(sealapi().RelinKeys(), self.context, blob, "the relinearization keys")

    def chain_index(self, ct: Any) -> int:
        return self.context.get_context_data(ct.parms_id()).chain_index()

    def key_bytes(self, count: int) -> int:
        """Memory that `count` key-switching keys (Galois or relinearization) take: each is one
        ciphertext of two polynomials over every prime, per data prime."""
        n_primes = len(self.primes)
        return count * (n_primes - 1) * 2 * n_primes * self.poly_modulus_degree * 8

    def encode(self, values: np.ndarray, parms_id: list[int], scale: float) -> Any:
        pt = sealapi().Plaintext()
        self.encoder.encode(np.asarray(values, dtype=np.float64).tolist(), parms_id, scale, pt)
        return pt

    def decode(self, pt: Any) -> np.ndarray:
        return np.array(self.encoder.decode_double(pt))


@dataclasses.dataclass
class EvaluationKeys:
    galois: Any
    relin: Any | None
    nbytes: int

    def has_steps(self, context: CkksContext, steps: tuple[int, ...]) -> list[int]:
        """The steps among `steps` these keys cannot rotate by."""
        return [s for s in steps if not self.galois.has_key(galois_element(s, context.poly_modulus_degree))]


def load_evaluation_keys(context: CkksContext, galois: bytes | memoryview, relin: bytes | memoryview | None
                         ) -> EvaluationKeys:
    gk = context.load_galois_keys(galois)
    rk = context.load_relin_keys(relin) if relin else None
    return EvaluationKeys(galois=gk, relin=rk, nbytes=context.key_bytes(gk.size() + (1 if rk is not None else 0)))


# --- plaintexts, cached --------------------------------------------------------------------

class PlaintextCache:
    """Encoded weights, most recently used kept, at most `max_bytes` of them. A key names the
    parameter set, the model, the layout and the exact level and scale, so sessions with the same
    parameters share their plaintexts."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._items: collections.OrderedDict[tuple, tuple[Any, int]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, make: Callable[[], Any], size: int) -> Any:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit[0]
        value = make()
        with self._lock:
            if key not in self._items and size <= self.max_bytes:
                self._items[key] = (value, size)
                self.nbytes += size
                while self.nbytes > self.max_bytes:
                    _, (_, dropped) = self._items.popitem(last=False)
                    self.nbytes -= dropped
        return value


# --- evaluation ----------------------------------------------------------------------------

def evaluate(context: CkksContext, keys: EvaluationKeys, plan: Plan, ct: Any, *, stride: int, model_key: str,
             cache: PlaintextCache) -> Any:
    """The model on one ciphertext whose blocks of `stride` slots each hold one input repeated
    (`stride` = every slot for a single input). Returns the result at the last level."""
    sa = sealapi()
    ev = context.evaluator
    level = context.chain_index(ct)
    if level < plan.depth:
        raise EvaluationError(f"the ciphertext has {level} levels left; the model needs {plan.depth}")
    if level > plan.depth:  # evaluate at the lowest level that suffices: every operation is cheaper there
        ev.mod_switch_to_inplace(ct, context.chain[plan.depth])
    gk, n_slots = keys.galois, context.slot_count
    plain_bytes = context.poly_modulus_degree * 8

    def plaintext(role: tuple, values: Callable[[], np.ndarray], at: Any, scale: float) -> Any:
        pid = at.parms_id()
        size = plain_bytes * (context.chain_index(at) + 1)
        return cache.get((context.parms_blob, model_key, stride, *role, tuple(pid), scale),
                         lambda: context.encode(values(), pid, scale), size)

    def rotated(src: Any, step: int) -> Any:
        out = sa.Ciphertext()
        ev.rotate_vector(src, step, gk, out)
        return out

    for index, layer in enumerate(plan.layers):
        q = float(context.primes[context.chain_index(ct)])
        diagonals = None

        def diagonal(g: int, b: int) -> np.ndarray:
            nonlocal diagonals
            if diagonals is None:
                diagonals = layer.diagonals(n_slots, stride)
            return diagonals[g][b]

        xs = [ct]
        for _ in range(1, layer.baby):  # baby steps: rot(x, b), each one rotation by 1 from the last
            xs.append(rotated(xs[-1], 1))
        acc = None
        for g in reversed(range(layer.giant)):  # Horner over the giant steps
            inner = None
            for b, x in enumerate(xs):
                pt = plaintext((index, "w", g, b), lambda g=g, b=b: diagonal(g, b), x, q)
                if pt.is_zero():  # SEAL refuses a product that is transparently zero
                    continue
                term = sa.Ciphertext()
                ev.multiply_plain(x, pt, term)
                if inner is None:
                    inner = term
                else:
                    ev.add_inplace(inner, term)
            if acc is not None:
                ev.rotate_vector_inplace(acc, layer.baby, gk)
            if inner is not None:
                ev.rescale_to_next_inplace(inner)
                if acc is None:
                    acc = inner
                else:
                    ev.add_inplace(acc, inner)
        if acc is None:
            raise EvaluationError(f"layer {index} of the model has no non-zero weight")
        for step in layer.fold_steps:  # rotate-and-sum inside each period of p slots
            ev.add_inplace(acc, rotated(acc, step))
        ev.add_plain_inplace(acc, plaintext((index, "b"), lambda: layer.bias_vector(n_slots, stride), acc, acc.scale))
        ct = _activation(context, keys, layer, acc, index, plaintext)
    return ct


def _activation(context: CkksContext, keys: EvaluationKeys, layer, w: Any, index: int, plaintext) -> Any:
    if layer.activation == "none":
        return w
    sa = sealapi()
    ev = context.evaluator
    if keys.relin is None:
        raise EvaluationError("the session registered no relinearization keys; this model needs them")
    if layer.activation == "square":
        ev.square_inplace(w)
        ev.relinearize_inplace(w, keys.relin)
        ev.rescale_to_next_inplace(w)
        return w
    # poly3 with w = c u: a0 + a1' w + a2' w^2 + w^3, depth 2, every scale matched exactly
    a0, a1, a2, _ = layer.coefficients
    w2 = sa.Ciphertext()
    ev.square(w, w2)
    ev.relinearize_inplace(w2, keys.relin)
    ev.rescale_to_next_inplace(w2)
    ev.mod_switch_to_next_inplace(w)  # w now sits where w2 does
    out = sa.Ciphertext()
    ev.multiply(w2, w, out)
    ev.relinearize_inplace(out, keys.relin)
    ev.rescale_to_next_inplace(out)
    if a1:
        linear = sa.Ciphertext()
        ev.multiply_plain(w, plaintext((index, "a1"), lambda: np.full(context.slot_count, a1), w, w2.scale), linear)
        ev.rescale_to_next_inplace(linear)
        ev.add_inplace(out, linear)
    if a2:
        quadratic = sa.Ciphertext()
        ev.multiply_plain(w2, plaintext((index, "a2"), lambda: np.full(context.slot_count, a2), w2, w.scale),
                          quadratic)
        ev.rescale_to_next_inplace(quadratic)
        ev.add_inplace(out, quadratic)
    ev.add_plain_inplace(out, plaintext((index, "a0"), lambda: np.full(context.slot_count, a0), out, out.scale))
    return out
