"""CKKS parameters and the checks a session's parameters pass before any work is done on them.

The security bound is the Homomorphic Encryption Standard's table of the largest total
coefficient modulus for each ring dimension (the one Microsoft SEAL enforces, in
`seal/util/hestdparms.h`): with more modulus bits than this, the ring-LWE instance is no longer
believed to give the named security level against classical attacks.
"""

from __future__ import annotations

import dataclasses
import math

from cifer.exceptions import CoreError

MAX_COEFF_MODULUS_BITS: dict[int, dict[int, int]] = {
    128: {1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881},
    192: {1024: 19, 2048: 37, 4096: 75, 8192: 152, 16384: 305, 32768: 611},
    256: {1024: 14, 2048: 29, 4096: 58, 8192: 118, 16384: 237, 32768: 476},
}
"""security level (bits) -> poly modulus degree -> most coefficient-modulus bits, all primes together."""

SUPPORTED_DEGREES = (4096, 8192, 16384)
"""Ring dimensions the service accepts: below 4096 no model fits with 128-bit security, above
16384 one session's keys run to hundreds of megabytes."""

MIN_SCALE_BITS = 20
"""Below 2^20 the encoding error of CKKS is of the order of the scores' differences."""
MAX_PRIME_BITS = 60  # SEAL's limit for one prime of the coefficient modulus


class ParameterError(CoreError):
    """Parameters the service refuses: insecure, unsupported, or too shallow for a model."""


@dataclasses.dataclass(frozen=True)
class CkksParameters:
    """One CKKS parameter set: the ring, the chain of primes (the last one is SEAL's special
    prime for key switching), the scale inputs are encoded at, and the security level claimed."""

    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    scale_bits: float
    security_level: int = 128

    @property
    def slot_count(self) -> int:
        return self.poly_modulus_degree // 2

    @property
    def depth(self) -> int:
        """Rescalings available: every prime but the first (which holds the result) and the special one."""
        return len(self.coeff_mod_bit_sizes) - 2

    @property
    def scale(self) -> float:
        return 2.0 ** self.scale_bits

    def check(self, degrees: tuple[int, ...] = SUPPORTED_DEGREES) -> None:
        """Raise `ParameterError` unless these parameters are secure at their claimed level,
        supported here, and deep enough for one rescaling."""
        check_ring(self.poly_modulus_degree, self.security_level, degrees)
        check_coeff_modulus(self.poly_modulus_degree, self.coeff_mod_bit_sizes, self.security_level)
        check_scale(self.scale_bits, self.coeff_mod_bit_sizes)


def check_ring(degree: int, security_level: int, degrees: tuple[int, ...] = SUPPORTED_DEGREES) -> None:
    if security_level not in MAX_COEFF_MODULUS_BITS:
        raise ParameterError(f"security_level {security_level} is not supported (one of 128, 192, 256)")
    if degree not in degrees:
        raise ParameterError(f"poly_modulus_degree {degree} is not supported "
                             f"(one of {', '.join(map(str, degrees))})")


def check_coeff_modulus(degree: int, bit_sizes: tuple[int, ...], security_level: int) -> None:
    if len(bit_sizes) < 3:
        raise ParameterError(f"a coefficient modulus of {len(bit_sizes)} primes leaves no rescaling "
                             "(at least 3: result, one level, special prime)")
    if any(not 2 <= bits <= MAX_PRIME_BITS for bits in bit_sizes):
        raise ParameterError(f"every prime of the coefficient modulus must have 2 to {MAX_PRIME_BITS} bits")
    bound = MAX_COEFF_MODULUS_BITS[security_level][degree]
    if sum(bit_sizes) > bound:
        raise ParameterError(f"a coefficient modulus of {sum(bit_sizes)} bits is not {security_level}-bit secure "
                             f"with poly_modulus_degree {degree} (at most {bound} bits)")


def check_scale(scale_bits: float, bit_sizes: tuple[int, ...]) -> None:
    if not math.isfinite(scale_bits) or scale_bits < MIN_SCALE_BITS:
        raise ParameterError(f"a scale below 2^{MIN_SCALE_BITS} is too imprecise for inference")
    if scale_bits >= bit_sizes[0]:
        raise ParameterError(f"a scale of 2^{scale_bits:g} leaves no room in the first prime "
                             f"({bit_sizes[0]} bits) for the result")


DEFAULT_PARAMETERS = CkksParameters(poly_modulus_degree=8192, coeff_mod_bit_sizes=(56, 35, 35, 35, 56),
                                    scale_bits=35)
"""What `FHEClient` generates: 128-bit secure (217 of 218 bits), depth 3 (every model here), a
result prime 21 bits above the scale (scores up to 2^20), 35-bit primes so that the scale
stays put through rescaling, and a special prime as large as the largest other."""
