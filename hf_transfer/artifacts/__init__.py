"""What a run leaves on disk and how it is read back: the run folder and metrics.json (``runs``), staging,
the model card, plots, loading a checkpoint or run folder (``models``) or an export folder (``onnx_model``,
``gguf_model``)."""
