"""Worker mode on PostgreSQL: polls, re-checks and deliveries shared by processes."""
