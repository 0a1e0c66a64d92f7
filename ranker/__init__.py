"""Kairos ranker: the time-aware multimodal recommendation model, its training, evaluation and serving."""
