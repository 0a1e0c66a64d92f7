"""Kairos recmodel: the recommendation model library (data, model, training, evaluation, retraining)."""
