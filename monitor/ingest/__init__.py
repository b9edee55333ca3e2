"""The ingest of one poll: read what is stored, decide what to write (pure), write it."""
