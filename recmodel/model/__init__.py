"""The time-aware multimodal mixture-of-experts recommender (importable without training code)."""
