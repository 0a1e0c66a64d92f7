"""Datasets: the event/item contract, file loaders and evaluation splits."""
