"""One module per registered connector type, each defining `CASE` for the conformance test."""
