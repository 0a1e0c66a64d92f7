"""Tests of the item encoders (encoders/)."""
