"""CIFER: zero-key, post-quantum encryption for workloads on Kubernetes."""
