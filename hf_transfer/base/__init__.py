"""Helpers that know nothing of NLP: errors, hardware, plain data, console and progress, tables, files,
statistics."""
