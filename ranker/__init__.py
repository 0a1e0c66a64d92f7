"""Kairos ranker: the online gRPC ranking service (servicer, batching, item index, item store).

The model it serves comes from :mod:`recmodel.model.serving`; see ranker/README.md for what it may import.
"""
