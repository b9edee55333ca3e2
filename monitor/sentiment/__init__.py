"""Sentiment: which language a text is in, and how its author feels."""
