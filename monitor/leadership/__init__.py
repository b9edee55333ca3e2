"""What processes share: the scheduler lease, the instance lock, the heartbeat, per-host
slots and login tokens."""
