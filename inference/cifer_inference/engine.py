"""The service layer: registering a session's keys and evaluating a model, each check done
before the work it protects. Methods named `*_job` are CPU-bound and run in a worker thread.

Registration, in order (nothing heavy before step 5):
1. the body's shape (requests.py): 422; the scheme, base64: 400;
2. the TenSEAL context parsed as protobuf: a secret key anywhere is refused, nothing is stored;
3. `eval_keys_b64`: absent, empty or the same bytes as `context_b64` means "the context's keys";
   other bytes must be a public TenSEAL context with the same encryption parameters, and its
   Galois and relinearization keys are used instead of the context's;
4. the declared ring and security level; the SEAL parameters (a few dozen bytes) loaded and held
   to the security bound, the declared degree and primes, and the scale; room for the keys;
5. the keys loaded (SEAL checks every one of them against the parameters) and the session stored.
"""

from __future__ import annotations

import math
import threading
import weakref

from cifer.fhe import seal, wire
from cifer.fhe.models import Model, Plan
from cifer.fhe.params import MIN_SCALE_BITS, ParameterError, check_ring, check_scale
from cifer_inference.errors import Problem, bad_request
from cifer_inference.bodies import RegisterRequest
from cifer_inference.sessions import Session, SessionStore
from cifer_inference.settings import InferenceSettings

SECRET_KEY_REFUSED = ("The context holds a secret key: refused, and nothing was stored. Send "
                      "ctx.serialize() after ctx.make_context_public()")


class Engine:
    def __init__(self, settings: InferenceSettings, models: dict[str, Model], sessions: SessionStore) -> None:
        self.settings = settings
        self.models = models
        self.sessions = sessions
        self.cache = seal.PlaintextCache(settings.plaintext_cache_bytes)
        self._contexts: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    # --- registration ------------------------------------------------------------------------

    def register_job(self, request: RegisterRequest) -> Session:
        params = request.params
        context_doc = _parse_context(request.context, "context_b64")
        galois, relin = context_doc.galois_keys, context_doc.relin_keys
        if request.eval_keys is not None and request.eval_keys != request.context:
            keys_doc = _parse_context(request.eval_keys, "eval_keys_b64")
            if bytes(keys_doc.encryption_parameters) != bytes(context_doc.encryption_parameters):
                raise bad_request("eval_keys_b64 is a context with other encryption parameters than context_b64")
            galois, relin = keys_doc.galois_keys or galois, keys_doc.relin_keys or relin
        if galois is None:
            raise bad_request("The context has no Galois keys: call ctx.generate_galois_keys() before serializing")
        scale = context_doc.scale
        if params.global_scale is not None and scale is not None and params.global_scale != scale:
            raise bad_request(f"params.global_scale {params.global_scale:g} is not the context's scale {scale:g}")
        scale = scale or params.global_scale
        try:
            check_ring(params.poly_modulus_degree, params.security_level, self.settings.poly_modulus_degrees)
            context = self._context(context_doc.encryption_parameters, params.poly_modulus_degree,
                                    params.security_level)
            if params.coeff_mod_bit_sizes is not None and params.coeff_mod_bit_sizes != context.prime_bits:
                raise ParameterError(f"params.coeff_mod_bit_sizes {list(params.coeff_mod_bit_sizes)} are not the "
                                     f"context's {list(context.prime_bits)}")
            if scale is not None:
                check_scale(math.log2(scale), context.prime_bits)
        except (ParameterError, seal.InvalidObject) as exc:
            raise bad_request(f"Invalid parameters: {exc}") from None
        self.sessions.admit(request.session_id, len(galois) + len(relin or b""))
        try:
            keys = seal.load_evaluation_keys(context, galois, relin)
        except (seal.InvalidObject, wire.WireError) as exc:
            raise bad_request(f"Invalid evaluation keys: {exc}") from None
        session = Session(session_id=request.session_id, context=context, keys=keys, nbytes=keys.nbytes,
                          last_used=0.0)
        self.sessions.add(session)
        return session

    def _context(self, parms_blob, degree: int, security_level: int) -> seal.CkksContext:
        """The shared context for these parameters (one per parameter set while sessions use it)."""
        key = (bytes(parms_blob), security_level)
        with self._lock:
            context = self._contexts.get(key)
        if context is None:
            context = seal.CkksContext.from_blob(parms_blob, poly_modulus_degree=degree, security_level=security_level,
                                                 degrees=self.settings.poly_modulus_degrees)
            with self._lock:
                context = self._contexts.setdefault(key, context)
        elif context.poly_modulus_degree != degree:  # from_blob checks this on a first use
            raise ParameterError(f"the context's poly_modulus_degree is {context.poly_modulus_degree}, "
                                 f"params say {degree}")
        return context

    # --- inference ----------------------------------------------------------------------------

    def model(self, model_id: str) -> tuple[Model, Plan] | None:
        model = self.models.get(model_id)
        return None if model is None else (model, model.plan)

    def layout(self, session: Session, model: Model, plan: Plan, vector: wire.CkksVector) -> tuple[int, int]:
        """(stride, answer size) of an input: one input (`input_dim` values, repeated over the
        slots as TenSEAL encrypts them) or a batch (n blocks of `batch_stride`). Also checks that
        the session can run this model at all. Cheap; before the ciphertext is loaded."""
        context, slots = session.context, session.context.slot_count
        if len(vector.ciphertexts) != 1:
            raise bad_request("The input must be a CKKS vector of one ciphertext")
        size, stride = vector.sizes[0], plan.batch_stride
        if size == plan.input_dim:
            layout = (slots, plan.output_dim)
        elif size % stride == 0 and 0 < size // stride <= plan.batch_capacity(slots):
            layout = (stride, size)
        else:
            raise bad_request(f"The ciphertext holds {size} values; {model.model_id} takes {plan.input_dim} (one "
                              f"input) or a batch of n blocks of {stride} (n up to {plan.batch_capacity(slots)})")
        if context.depth < plan.depth:
            raise bad_request(f"The session's parameters allow {context.depth} rescalings; {model.model_id} needs "
                              f"{plan.depth} (use more primes in the coefficient modulus)")
        missing = session.keys.has_steps(context, plan.galois_steps)
        if missing:
            raise bad_request(f"The session's Galois keys cannot rotate by {missing}, which {model.model_id} needs")
        if plan.needs_relin_keys and session.keys.relin is None:
            raise bad_request(f"{model.model_id} needs relinearization keys; the session has none")
        return layout

    def infer_job(self, session: Session, model: Model, plan: Plan, vector: wire.CkksVector,
                  stride: int, size: int) -> bytes:
        context = session.context
        try:
            ct = context.load_ciphertext(vector.ciphertexts[0])
        except (seal.InvalidObject, wire.WireError):
            raise bad_request("The ciphertext does not match the session's parameters") from None
        if ct.size() != 2:
            raise bad_request(f"The ciphertext has {ct.size()} polynomials; a fresh (or relinearized) one has 2")
        self._check_scale(context, model, plan, ct)
        try:
            out = seal.evaluate(context, session.keys, plan, ct, stride=stride, model_key=model.model_id,
                                cache=self.cache)
        except seal.EvaluationError as exc:
            raise bad_request(str(exc)) from None
        except (ValueError, RuntimeError, ArithmeticError) as exc:  # SEAL's own refusals mid-circuit
            raise Problem(500, f"Inference failed: {type(exc).__name__}") from None
        return wire.encode_vector(size, seal.BRIDGE.dump(out), vector.scale or ct.scale)

    @staticmethod
    def _check_scale(context: seal.CkksContext, model: Model, plan: Plan, ct) -> None:
        """The input's scale leaves the result precise, and the result fits the last prime."""
        level = context.chain_index(ct)
        if level < plan.depth:
            raise bad_request(f"The ciphertext has {level} levels left; {model.model_id} needs {plan.depth}")
        scale = ct.scale
        if not math.isfinite(scale) or scale < 2.0**MIN_SCALE_BITS:
            raise bad_request(f"The ciphertext's scale is below 2^{MIN_SCALE_BITS}")
        final = plan.final_scale(scale, [context.primes[i] for i in range(plan.depth, 0, -1)])
        room = math.log2(context.primes[0]) - math.log2(final)
        if final < 2.0**MIN_SCALE_BITS or room < math.log2(model.output_bound) + 1:
            raise bad_request(f"With a scale of 2^{math.log2(scale):.1f} the result of {model.model_id} would "
                              f"{'lose its precision' if final < 2.0**MIN_SCALE_BITS else 'overflow the first prime'}")


def _parse_context(blob: bytes, name: str) -> wire.TensealContext:
    try:
        doc = wire.parse_context(blob)
    except wire.WireError as exc:
        raise bad_request(f"{name} is not a serialized TenSEAL context: {exc}") from None
    if doc.has_secret_key:
        raise bad_request(SECRET_KEY_REFUSED)
    return doc
