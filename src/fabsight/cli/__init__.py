"""Command-line interface (thin: parse, call a task, print)."""
