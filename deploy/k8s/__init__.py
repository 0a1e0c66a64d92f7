"""Kustomize base/overlays for Kairos and their offline validation (`python -m deploy.k8s.validate`)."""
