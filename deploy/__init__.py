"""Kairos deployment assets: Kubernetes manifests, Prometheus rules and load tests."""
