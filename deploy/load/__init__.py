"""Locust load tests of the Kairos gRPC services and their SLO-checking runner."""
