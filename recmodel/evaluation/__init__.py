"""Offline evaluation protocols: cold-start measurements, baselines, bootstrap intervals and paired tests."""
