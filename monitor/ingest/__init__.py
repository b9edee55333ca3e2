"""Ingest: poll a feed, decide what to write (pure), write it in one transaction."""
