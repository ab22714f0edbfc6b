"""Seed 004's "Example Flow", verbatim, as a user's script against `cifer inference`."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SEED_EXAMPLE = '''\
from fhe_inference_service.client import FHEClient

# 1. Create client
client = FHEClient("http://localhost:8000")

# 2. Generate keys locally
client.setup()

# 3. Register eval keys (secret key stays local)
client.register_keys()

# 4. Run encrypted inference
result = client.infer("demo-linear-classifier", embedding)

# 5. Use decrypted result
print(result.predicted_class)
'''
"""Copied from the seed, byte for byte; only the service's address is put in at run time."""

PRELUDE = textwrap.dedent("""\
    from sklearn.datasets import load_digits
    digits = load_digits()
    embedding = digits.data[{index}]  # an 8x8 digit, 64 pixel intensities
""")


def run_example(url: str, index: int) -> str:
    script = PRELUDE.format(index=index) + SEED_EXAMPLE.replace("http://localhost:8000", url)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_seeds_example_flow_runs_unchanged_and_predicts_the_digit(service, digits):
    for digit in (0, 1, 2):  # the demo model knows digits 0, 1 and 2
        index = next(i for i, label in enumerate(digits.target) if label == digit)
        assert run_example(service, index) == str(digit)
