"""The social-media response monitor: config, storage, pipeline, scheduler and CLI."""

__version__ = "0.1.0"
