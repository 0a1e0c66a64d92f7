"""Tests of the deployment assets: manifests, Prometheus rules and the load-test harness."""
