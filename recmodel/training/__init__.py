"""Training: configuration, objectives, the training loop and the train CLI's building blocks."""
