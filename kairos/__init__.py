"""Kairos: shared service plumbing (kairos.service) and generated gRPC contracts (kairos.v1)."""
