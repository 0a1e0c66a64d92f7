"""Prometheus rules checks (promtool) and prometheus-adapter rules for the HPAs."""
