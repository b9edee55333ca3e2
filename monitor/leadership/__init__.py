"""One leader at a time: the scheduler lease, the instance lock and the heartbeat."""
