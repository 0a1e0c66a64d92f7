"""Retraining: build a dataset from the event log and the ranker's item store, train a candidate, gate it against
the served artifact on the most recent time slice, and publish it atomically (``python -m recmodel.retrain``).

See docs/retraining.md.
"""
