"""The store: the database, its tables and migrations, and the rows a poll writes fast."""
