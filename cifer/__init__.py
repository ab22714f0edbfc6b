"""CIFER: zero-key, post-quantum encryption for workloads on Kubernetes."""

__version__ = "0.1.0"
