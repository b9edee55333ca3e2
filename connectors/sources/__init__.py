"""The sources: one module a feed type, named as the type is in the config."""
