"""Kairos user-state service: per-user timestamped interaction sequences over gRPC."""
