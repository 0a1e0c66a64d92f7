"""Triton Inference Server integration: model repository generation and a local launcher."""
