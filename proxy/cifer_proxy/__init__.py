"""The data plane's sidecar: the CIFER API on localhost:8080 (seed 000)."""
