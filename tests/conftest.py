import sys
from pathlib import Path

# The shared test helpers live beside this file; make them importable as plain modules.
sys.path.insert(0, str(Path(__file__).parent))

pytest_plugins = ["dev.running", "keyservice.databases", "keyservice.service", "kube.fixtures", "sdk_standin", "softhsm"]  # kube: the real API server
