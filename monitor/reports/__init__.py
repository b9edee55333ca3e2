"""Response-time reports for managers: SQL aggregation, text/CSV/JSON/HTML output, weekly digest."""
