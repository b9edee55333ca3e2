"""What processes share or guard: a worker's proof that it may act, the SQLite instance lock,
the heartbeat, per-host slots and login tokens."""
