"""A real Kubernetes control plane (etcd + kube-apiserver) for the tests; see control_plane.py."""
