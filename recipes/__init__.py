"""Packaged recipes. Each module defines ``RECIPE`` and runs itself: ``python recipes/<module>.py [flags]``."""
