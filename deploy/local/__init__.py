"""The local suite: Triton, user-state and ranker on one machine, and the demo that drives them."""
