"""A GGUF export checked in llama.cpp itself (through llama-cpp-python) against the PyTorch model it was made from,
on the run's evaluation conversations, before anything is kept.

1. The special tokens llama.cpp reads (BOS, EOS, pad) are the run's, and its EOS ends generation there.
2. Each evaluation prompt, rendered by the chat template stored in the GGUF (with llama-cpp-python's Jinja
   renderer, as a llama.cpp chat would) and tokenized by llama.cpp, gives the token ids the run's tokenizer gives
   the prompt the run formatted; each response tokenizes to the same ids too. This is where a lost template or
   a wrong special token shows (a GGUF that loads and then talks gibberish).
3. The evaluation loss, the run's definition (the mean over response tokens of the next-token cross entropy), from
   llama.cpp's logits against PyTorch's (fp32) on the same token ids: f16 within 0.5%, q8_0 within 1%; q4_0 is
   reported, with a warning past 5%.
4. Greedy continuations of the prompts, 16 tokens each, from llama.cpp's and PyTorch's logits: f16 must agree on
   at least 90% of them (the others are reported)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from hf_transfer.base.errors import UserError

LOSS_TOLERANCE = {"f16": 0.005, "q8_0": 0.01}
"""How far (relative) the GGUF's eval loss may be from PyTorch's: more is refused."""
Q4_WARNING = 0.05
"""A q4_0 export whose eval loss is this much (relative) above PyTorch's is kept with a warning."""
GREEDY_TOKENS = 16
GREEDY_AGREEMENT = {"f16": 0.9}
"""The share of prompts whose greedy continuations must agree token for token (f16; the others report it)."""
GREEDY_PROMPTS = 32
"""Prompts whose greedy continuations are compared (the first of the evaluation set)."""
GREEDY_TIE = 0.05
"""Continuations that part where PyTorch's own top two tokens are within this many logits of each other count as
agreeing (a near-tie that f16 rounding may break either way), and are reported apart."""


EXTRA = "gguf"
"""The pyproject extra that installs the gguf package and llama-cpp-python."""


def check_installed() -> None:
    missing = []
    for module in ("gguf", "llama_cpp"):
        try:
            __import__(module)
        except ImportError:
            missing.append({"llama_cpp": "llama-cpp-python"}.get(module, module))
    if missing:
        raise UserError(
            f"GGUF exports need {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not "
            f"installed: pip install 'hf-transfer-toolkit[{EXTRA}]' (llama-cpp-python builds llama.cpp from source: "
            "a few minutes)."
        )


def open_gguf(path, n_ctx: int):
    """llama.cpp's model and context for ``path``, every position's logits kept (``logits_all``)."""
    import torch
    from llama_cpp import Llama

    try:
        return Llama(model_path=str(path), n_ctx=n_ctx, n_batch=min(n_ctx, 512), logits_all=True, verbose=False,
                     n_threads=torch.get_num_threads(), seed=0)  # fmt: skip
    except (ValueError, RuntimeError) as exc:  # llama-cpp-python's error for a file llama.cpp cannot load
        raise UserError(f"llama.cpp cannot load {path}: {exc}.") from None


def renderer(llm):
    """The GGUF's own chat template as llama-cpp-python renders it (Jinja, with the GGUF's BOS / EOS texts)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise UserError("The GGUF has no chat template: llama.cpp would format conversations its own way.")
    text = {"bos": llm.token_bos(), "eos": llm.token_eos()}
    names = {k: llm.detokenize([i], special=True).decode("utf-8", "replace") if i >= 0 else "" for k, i in text.items()}
    formatter = Jinja2ChatFormatter(template=template, eos_token=names["eos"], bos_token=names["bos"])
    return lambda messages: formatter(messages=messages).prompt


def check_special_tokens(llm, tokenizer) -> dict[str, Any]:
    import llama_cpp

    pad = llm.metadata.get("tokenizer.ggml.padding_token_id")
    theirs = {"bos": llm.token_bos(), "eos": llm.token_eos(), "pad": int(pad) if pad is not None else None}
    ours = {"bos": tokenizer.bos_token_id, "eos": tokenizer.eos_token_id, "pad": tokenizer.pad_token_id}
    wrong = [f"{k} is {theirs[k]} in llama.cpp, {ours[k]} ({getattr(tokenizer, k + '_token')!r}) in the run"
             for k in ours if ours[k] is not None and theirs[k] != ours[k]]  # fmt: skip
    if not wrong and not llama_cpp.llama_vocab_is_eog(llm._model.vocab, ours["eos"]):
        wrong.append(f"llama.cpp does not stop generating at EOS {ours['eos']}")
    if wrong:
        raise UserError(f"The GGUF's special tokens are not the run's: {'; '.join(wrong)}. Nothing was kept.")
    return ours


def check_tokenization(llm, tokenizer, task, conversations) -> dict[str, Any]:
    """Every prompt rendered by the GGUF's template and tokenized by llama.cpp, and every response tokenized by
    llama.cpp, against the run's token ids for them; the first difference is named."""
    render = renderer(llm)
    use_template = task._uses_template(tokenizer)
    different, first = 0, None
    for i, conversation in enumerate(conversations):
        prompt, full = task._texts(tokenizer, conversation, use_template)
        ours = tokenizer(prompt, add_special_tokens=not use_template)["input_ids"]
        ours += tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
        rendered = render(conversation[:-1])
        theirs = llm.tokenize(rendered.encode("utf-8"), add_bos=True, special=True)
        theirs += llm.tokenize(full[len(prompt) :].encode("utf-8"), add_bos=False, special=True)
        if ours != theirs:
            different += 1
            if first is None:
                at = next((j for j, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b),
                          min(len(ours), len(theirs)))  # fmt: skip
                first = (i, at, tokenizer.decode(ours[at : at + 8]), llm.detokenize(theirs[at : at + 8], special=True))
    if different:
        i, at, ours_text, theirs_text = first
        raise UserError(
            f"llama.cpp tokenizes {different} of {len(conversations)} evaluation conversations differently from the "
            f"run (rendered with the GGUF's chat template): the first, conversation {i}, from token {at}: the run "
            f"has {ours_text!r}, llama.cpp {theirs_text.decode('utf-8', 'replace')!r}. The chat template or the "
            "tokenizer did not survive the conversion. Nothing was kept."
        )
    return {"conversations": len(conversations), "identical": len(conversations)}


def _response_nll(logits: np.ndarray, ids: list[int], labels: list[int]) -> tuple[float, int]:
    """(sum, count) of the next-token negative log-likelihood where a label is (the response tokens)."""
    at = [t for t in range(len(ids) - 1) if labels[t + 1] != -100]
    if not at:
        return 0.0, 0
    rows = logits[at].astype(np.float64)
    top = rows.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(rows - top).sum(axis=-1)) + top[:, 0]
    return float((lse - rows[np.arange(len(at)), [ids[t + 1] for t in at]]).sum()), len(at)


def response_losses(model, llm, features) -> tuple[float, float, int]:
    """(PyTorch's, llama.cpp's) mean response-token loss over ``features``, and the tokens counted."""
    import torch

    sums, count = [0.0, 0.0], 0
    for row in features:
        ids, labels = list(row["input_ids"]), list(row["labels"])
        with torch.no_grad():
            ours = model(input_ids=torch.tensor([ids])).logits[0].float().numpy()
        llm.reset()
        llm.eval(ids)
        theirs = np.array(llm.scores[: len(ids)], copy=True)
        a, n = _response_nll(ours, ids, labels)
        b, _ = _response_nll(theirs, ids, labels)
        sums[0], sums[1], count = sums[0] + a, sums[1] + b, count + n
    if not count:
        raise UserError("The evaluation rows have no response tokens: the export cannot be verified.")
    return sums[0] / count, sums[1] / count, count


def greedy_pair(model, llm, prompt: list[int], stops: set[int], tokens: int = GREEDY_TOKENS):
    """Greedy continuations of ``prompt`` from PyTorch and from llama.cpp (up to ``tokens``, ending at a stop), and
    where they part, how far apart PyTorch's logits put the two tokens (None when they do not part)."""
    import torch
    from transformers import GenerationConfig

    greedy = GenerationConfig(max_new_tokens=tokens, do_sample=False, eos_token_id=sorted(stops),
                              pad_token_id=min(stops))  # not the model's own settings (a repetition penalty)
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=greedy,
                             output_logits=True, return_dict_in_generate=True)  # fmt: skip
    ours = out.sequences[0, len(prompt) :].tolist()
    theirs = []
    llm.reset()
    llm.eval(prompt)
    for _ in range(tokens):
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        theirs.append(token)
        if token in stops:
            break
        llm.eval([token])
    parting = next((j for j, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), None)
    if parting is None:
        return ours, theirs, None if len(ours) == len(theirs) else float("inf")
    row = out.logits[parting][0].float()
    return ours, theirs, float(row[ours[parting]] - row[theirs[parting]])


def verify(path, model, tokenizer, task, examples, features, quantize: str, log=print) -> dict[str, Any]:
    """The four checks above on the GGUF at ``path``; raises UserError at the first that fails, returns the
    numbers otherwise."""
    conversations = [task._conversation(examples[i], f"row {i} of the evaluation split") for i in range(len(examples))]
    use_template = task._uses_template(tokenizer)
    prompts = [tokenizer(task._texts(tokenizer, c, use_template)[0], add_special_tokens=not use_template)["input_ids"]
               for c in conversations[:GREEDY_PROMPTS]]  # fmt: skip
    longest = max([len(r) for r in features["input_ids"]] + [len(p) + GREEDY_TOKENS for p in prompts])
    clock = [time.perf_counter()]
    llm = open_gguf(path, n_ctx=-(-(longest + 1) // 64) * 64)
    try:
        special = check_special_tokens(llm, tokenizer)
        tokens = check_tokenization(llm, tokenizer, task, conversations)
        clock.append(time.perf_counter())
        reference, loss, counted = response_losses(model, llm, features)
        clock.append(time.perf_counter())
        change = (loss - reference) / reference
        tolerance = LOSS_TOLERANCE.get(quantize)
        if tolerance is not None and abs(change) > tolerance:
            raise UserError(
                f"The {quantize} GGUF does not score like the model in llama.cpp: eval loss {loss:.4f} against "
                f"{reference:.4f} in PyTorch (fp32), {change:+.2%} (at most {tolerance:.1%} allowed). Nothing was kept."
                + (" (f16 rounds away weight changes smaller than its precision: a fine-tune of a few small steps "
                   "can vanish in it, and the loss moves back toward the base model's.)" if change > 0 else "")
            )  # fmt: skip
        stops = {special["eos"], *_ids(getattr(model.generation_config, "eos_token_id", None))}
        pairs = [greedy_pair(model, llm, p, stops) for p in prompts]
        clock.append(time.perf_counter())
    finally:
        llm.close() if hasattr(llm, "close") else None
    agree = sum(margin is None for _, _, margin in pairs)
    tied = sum(margin is not None and abs(margin) < GREEDY_TIE for _, _, margin in pairs)
    required = GREEDY_AGREEMENT.get(quantize)
    if required is not None and agree + tied < required * len(pairs):
        raise UserError(
            f"llama.cpp's greedy continuations of the evaluation prompts agree with PyTorch's on {agree} of "
            f"{len(pairs)} prompts ({GREEDY_TOKENS} tokens each; {tied} more part at a near-tie); at least "
            f"{required:.0%} are required for {quantize}. Nothing was kept."
        )
    warning = quantize == "q4_0" and change > Q4_WARNING
    if warning:
        log(f"[hf-transfer] warning: the q4_0 GGUF's eval loss is {change:+.2%} from the model's ({loss:.4f} against "
            f"{reference:.4f}); it is kept. --quantize q8_0 or f16 stays closer.")  # fmt: skip
    return {
        "runtime": "llama.cpp (llama-cpp-python)",
        "special_tokens": special,
        "tokenization": tokens,
        "eval_loss": {"pytorch_fp32": reference, "gguf": loss, "change": change, "tolerance": tolerance,
                      "warning_past": Q4_WARNING if quantize == "q4_0" else None, "response_tokens": counted},
        "greedy": {"prompts": len(pairs), "agree": agree, "near_ties": tied, "tie_logits": GREEDY_TIE,
                   "tokens": GREEDY_TOKENS, "required": required},
        "verdict": "kept with a warning" if warning else "verified",
        "seconds": dict(zip(("load_and_tokens", "loss", "greedy"), np.diff(clock).round(2).tolist(), strict=True)),
    }  # fmt: skip


def _ids(value) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]
