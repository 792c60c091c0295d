"""One run: its options (``options``), phases (``train``), data and model loading, the Trainer, evaluation,
forecasts and the time budget."""
