"""The client's side of CKKS: a secret key that lives in this process's memory only, the public
context the service gets, and encryption and decryption in the layout of `cifer.fhe.models`.

The secret key is a SEAL object that is never serialized: not into the context (which carries
only parameters, a public key and evaluation keys), not to a file, not to the wire. Inputs are
encrypted with it (symmetric CKKS, less noise than public-key encryption) directly at the level
the model starts from, which makes them smaller to send and cheaper to evaluate.
"""

from __future__ import annotations

import threading

import numpy as np

from cifer.fhe import wire
from cifer.fhe.params import DEFAULT_PARAMETERS, CkksParameters, ParameterError
from cifer.fhe.seal import BRIDGE, CkksContext, InvalidObject, galois_element, sealapi


class CkksKeyring:
    """Keys for one session. Thread-safe: encryption and decryption hold a lock (SEAL's
    encryptor shares a random generator)."""

    def __init__(self, params: CkksParameters = DEFAULT_PARAMETERS, galois_steps: tuple[int, ...] = ()) -> None:
        sa = sealapi()
        self.params = params
        self.context = CkksContext.create(params)
        keygen = sa.KeyGenerator(self.context.context)
        secret = keygen.secret_key()
        public = sa.PublicKey()
        keygen.create_public_key(public)
        relin = sa.RelinKeys()
        keygen.create_relin_keys(relin)
        steps = galois_steps or default_steps(self.context.slot_count)
        galois = sa.GaloisKeys()
        keygen.create_galois_keys([galois_element(s, params.poly_modulus_degree) for s in steps], galois)
        self.public_context = wire.encode_context(
            encryption_parameters=self.context.parms_blob, public_key=BRIDGE.dump(public),
            relin_keys=BRIDGE.dump(relin), galois_keys=BRIDGE.dump(galois), scale=params.scale)
        self._encryptor = sa.Encryptor(self.context.context, secret)
        self._decryptor = sa.Decryptor(self.context.context, secret)
        self._lock = threading.Lock()

    @property
    def slot_count(self) -> int:
        return self.context.slot_count

    def encrypt(self, slots: np.ndarray, *, size: int, depth: int) -> bytes:
        """A TenSEAL CKKS vector of logical `size` whose slots are `slots` (padded with zeros),
        encrypted at the level that leaves exactly `depth` rescalings."""
        if depth > self.context.depth:
            raise ParameterError(f"these parameters allow depth {self.context.depth}; the model needs {depth}")
        if len(slots) > self.slot_count:
            raise ValueError(f"{len(slots)} values do not fit {self.slot_count} slots")
        sa = sealapi()
        pt = self.context.encode(slots, self.context.chain[depth], self.params.scale)
        ct = sa.Ciphertext()
        with self._lock:
            self._encryptor.encrypt_symmetric(pt, ct)
        return wire.encode_vector(size, BRIDGE.dump(ct), self.params.scale)

    def decrypt(self, blob: bytes) -> np.ndarray:
        """The first `size` slots of a TenSEAL CKKS vector encrypted under this key."""
        try:
            vector = wire.parse_vector(blob)
        except wire.WireError as exc:
            raise InvalidObject(f"the answer is not a CKKS vector: {exc}") from None
        if len(vector.ciphertexts) != 1 or not 0 < vector.sizes[0] <= self.slot_count:
            raise InvalidObject("the answer is not one ciphertext of at most one slot vector")
        ct = self.context.load_ciphertext(vector.ciphertexts[0])
        pt = sealapi().Plaintext()
        with self._lock:
            self._decryptor.decrypt(ct, pt)
        return self.context.decode(pt)[:vector.sizes[0]]


def default_steps(slot_count: int) -> tuple[int, ...]:
    """Every left rotation by a power of two: what any packed model may ask for."""
    steps, step = [], 1
    while step < slot_count:
        steps.append(step)
        step *= 2
    return tuple(steps)
