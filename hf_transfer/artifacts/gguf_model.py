"""A GGUF export folder (``hf-transfer export --format gguf``) loaded for predictions and evaluation: its record
checked (a damaged ``model.gguf`` is named, not loaded), the file run by llama.cpp behind the two calls the
instruction-tuning task makes of a model: ``generate`` (greedy, for predict and the generation metrics) and the
evaluation loss (``response_loss``: the run's definition, the mean over response tokens)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hf_transfer.base.errors import UserError


def is_gguf_export(folder: Path) -> bool:
    import json

    from hf_transfer.artifacts.runs import EXPORT_FILE

    try:
        return json.loads((Path(folder) / EXPORT_FILE).read_text()).get("format") == "gguf"
    except (OSError, ValueError, AttributeError):
        return False


class GgufModel(torch.nn.Module):
    """``model.generate(input_ids=..., attention_mask=..., max_new_tokens=...)`` and ``model.response_loss(features)``
    in llama.cpp. ``n_ctx``: the longest sequence it is given (the task's max_length and new tokens)."""

    computes_loss = True
    main_input_name = "input_ids"

    def __init__(self, folder: Path, n_ctx: int = 1024):
        super().__init__()
        from hf_transfer.artifacts.gguf_verify import check_installed, open_gguf
        from hf_transfer.artifacts.onnx_model import read_record

        check_installed()
        record = read_record(folder)  # every file against its checksum
        self.file = Path(folder) / record["predict_with"]
        self.llm = open_gguf(self.file, n_ctx=-(-n_ctx // 64) * 64)
        import llama_cpp

        vocab = self.llm._model.vocab
        self.stops = {i for i in range(self.llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, i)}

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def _room(self, tokens: int) -> None:
        if tokens > self.llm.n_ctx():
            raise UserError(f"{tokens} tokens do not fit the {self.llm.n_ctx()} of the llama.cpp context opened for "
                            f"{self.file}; shorten the input.")  # fmt: skip

    def generate(self, input_ids=None, attention_mask=None, max_new_tokens: int = 128, pad_token_id=None, **unused):
        """Greedy continuations of each (left-padded) row, up to ``max_new_tokens`` or an end-of-generation token,
        returned as the prompt followed by them (padded with ``pad_token_id``)."""
        rows = []
        for ids, mask in zip(input_ids.tolist(), attention_mask.tolist(), strict=True):
            prompt = [t for t, m in zip(ids, mask, strict=True) if m]
            self._room(len(prompt) + max_new_tokens)
            self.llm.reset()
            self.llm.eval(prompt)
            new = []
            for _ in range(max_new_tokens):
                token = int(np.argmax(self.llm.scores[self.llm.n_tokens - 1]))
                new.append(token)
                if token in self.stops:
                    break
                self.llm.eval([token])
            rows.append(ids + new)
        pad = pad_token_id if pad_token_id is not None else min(self.stops, default=0)
        width = max(len(r) for r in rows)
        return torch.tensor([r + [pad] * (width - len(r)) for r in rows])

    def response_loss(self, features) -> float:
        """The mean next-token loss over every response token (label) of ``features``, from llama.cpp's logits."""
        from hf_transfer.artifacts.gguf_verify import _response_nll

        total, count = 0.0, 0
        for row in features:
            ids, labels = list(row["input_ids"]), list(row["labels"])
            self._room(len(ids))
            self.llm.reset()
            self.llm.eval(ids)
            loss, n = _response_nll(np.asarray(self.llm.scores[: len(ids)]), ids, labels)
            total, count = total + loss, count + n
        if not count:
            raise UserError("The evaluation rows have no response tokens: there is no loss to report.")
        return total / count

    def forward(self, *args, **kwargs):
        raise UserError("A GGUF export runs in llama.cpp: it generates and scores its evaluation loss, and returns no "
                        "logits to PyTorch.")  # fmt: skip
