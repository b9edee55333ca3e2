"""Platforms that push: webhook receivers that store what arrives as a poll would."""
