"""Exports of a finished run: ONNX (``onnx``) and GGUF (``gguf``, its card), each verified before it is kept.
Beside ``commands``: above ``run``, imported by ``cli`` only."""
