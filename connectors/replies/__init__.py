"""Answering a mention on its platform as the brand: one writer module per platform."""
