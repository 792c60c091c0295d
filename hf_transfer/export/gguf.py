"""``hf-transfer export RUN --format gguf [--quantize f16|q8_0|q4_0]``: an instruction-tuned causal LM as one GGUF
file for llama.cpp and Ollama, written with the ``gguf`` package and verified in llama.cpp (``gguf_verify.py``).

What goes into ``model.gguf``: the weights under llama.cpp's tensor names (``gguf.get_tensor_name_map``), the Llama
family's query and key rows reordered for llama.cpp's rotary layout (the Hugging Face checkpoint rotates the two
halves of each head; llama.cpp rotates adjacent pairs; Qwen2 needs no reordering, llama.cpp rotates it as
Hugging Face does), norms and biases in f32, the matrices in f16 or quantized by ``gguf.quants``; and the
tokenizer as the run trained with it: its byte-level BPE vocabulary and merges, its pre-tokenizer (by the
regular expression its ``tokenizer.json`` splits with), BOS / EOS / pad / unknown ids, whether it adds BOS, and
the chat template the run formatted its prompts with.

Written from the formats' descriptions (llama.cpp's ``convert_hf_to_gguf.py`` and ``src/llama-vocab.cpp`` were read
to learn the metadata keys and the rotary layout); nothing is copied from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hf_transfer.artifacts.gguf_verify import check_installed
from hf_transfer.base.errors import UserError

GGUF_FILE = "model.gguf"
MODELFILE = "Modelfile"
ARCHITECTURES = {"LlamaForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"}
"""The model classes exported, and llama.cpp's architecture name for each."""
PERMUTED = {"llama"}
"""Architectures whose query / key rows are reordered for llama.cpp's rotary layout (adjacent pairs)."""
PRE_TOKENIZERS = {
    "gpt-2": r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+",
}
"""llama.cpp's pre-tokenizer names and the splitting expression each stands for (``gpt-2``: the one byte-level BPE
splits with by itself, ``use_regex``)."""
FALLBACK_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] + '\\n\\n' }}{% endif %}{% endfor %}"
    "{% for m in messages %}{% if m['role'] == 'user' %}{{ '### Instruction:\\n' + m['content'] + '\\n\\n"
    "### Response:\\n' }}{% elif m['role'] == 'assistant' %}{{ m['content'] + eos_token }}{% endif %}{% endfor %}"
)
"""The chat template of a run that formatted its prompts with ``causal_lm.PROMPT_TEMPLATE`` (no chat template of
its own), for one-turn conversations: the verification checks it renders the run's prompts."""


def run_architecture(source, recipe) -> str:
    """The run's model class, from its config.json or, for an adapter run, its base model's."""
    config = source.path / "config.json"
    if not config.is_file():
        from hf_transfer.artifacts.gguf_checkpoint import plain_checkpoint
        from hf_transfer.sources.assets import resolve_checkpoint

        config = Path(plain_checkpoint(resolve_checkpoint(recipe.checkpoint)).path) / "config.json"
    try:
        return (json.loads(config.read_text()).get("architectures") or ["an unnamed model"])[0]
    except (OSError, ValueError):
        return "a model without a readable config.json"


def check_run(source, recipe) -> None:
    """Refusals before any work (after ``export.check_request``'s of the quantization): the task, the architecture,
    the packages."""
    if not recipe.task.gguf_export:
        raise UserError(f"{source.path.name} is a {recipe.task.kind} run: GGUF export takes instruction-tuned "
                        "causal LMs (for llama.cpp and Ollama); export it with --format onnx.")  # fmt: skip
    architecture = run_architecture(source, recipe)
    if architecture not in ARCHITECTURES:
        raise UserError(f"{source.path.name} holds {architecture}: GGUF export writes "
                        f"{', '.join(ARCHITECTURES)} only.")  # fmt: skip
    check_installed()


# ---- The weights


def _permute(weight, heads: int):
    """Rows of each head reordered from two halves (Hugging Face's rotary layout) to adjacent pairs (llama.cpp's)."""
    rows = weight.shape[0]
    return weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _tensors(model, arch: str):
    """(GGUF name, float32 array) for each weight; tied output weights are left to the token embedding."""
    import gguf
    import torch

    config = model.config
    names = gguf.get_tensor_name_map(_model_arch(arch), config.num_hidden_layers)
    tied = model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    for name, tensor in model.state_dict().items():
        if tied and name == "lm_head.weight":
            continue
        gguf_name = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise UserError(f"The model has a weight llama.cpp's {arch} architecture has no place for ({name}): it "
                            "is not exported.")  # fmt: skip
        data = tensor.detach().to(torch.float32).cpu().numpy()
        if arch in PERMUTED and name.endswith(("q_proj.weight", "q_proj.bias")):
            data = _permute(data, heads)
        elif arch in PERMUTED and name.endswith(("k_proj.weight", "k_proj.bias")):
            data = _permute(data, kv_heads)
        yield gguf_name, data


def _model_arch(arch: str):
    import gguf

    return next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch)


def tensor_type(gguf_name: str, data, quantize: str):
    """The type a tensor is stored as: f32 for vectors (norms, biases); the embedding (also the output layer when
    tied) at most q8_0, as llama.cpp's own q4_0 keeps the output layer at higher precision; else ``quantize``."""
    import gguf

    kind = gguf.GGMLQuantizationType
    if data.ndim < 2:
        return kind.F32
    wanted = {"f16": kind.F16, "q8_0": kind.Q8_0, "q4_0": kind.Q4_0}[quantize]
    if wanted == kind.Q4_0 and gguf_name.split(".")[0] in ("token_embd", "output"):
        wanted = kind.Q8_0
    block = gguf.GGML_QUANT_SIZES[wanted][0]
    return wanted if data.shape[-1] % block == 0 else kind.F16  # rows that do not split into blocks


# ---- The tokenizer


def pre_tokenizer(tokenizer) -> str:
    """llama.cpp's name for how the tokenizer splits text before BPE, read from its ``tokenizer.json``; refused
    when llama.cpp has none for it (the tokens would differ)."""
    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    model, pre = backend.get("model") or {}, backend.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [s.get("type") for s in steps]
    byte_level = steps[0].get("use_regex", True) and not steps[0].get("add_prefix_space")
    if model.get("type") == "BPE" and kinds == ["ByteLevel"] and byte_level:
        return "gpt-2"
    if model.get("type") == "BPE" and kinds == ["Split", "ByteLevel"] and not steps[1].get("use_regex", True):
        pattern = (steps[0].get("pattern") or {}).get("Regex")
        for name, expression in PRE_TOKENIZERS.items():
            if pattern == expression:
                return name
    raise UserError(f"The run's tokenizer ({model.get('type')} after {' + '.join(map(str, kinds))}) splits text in "
                    "a way hf_transfer does not map to llama.cpp's pre-tokenizers (byte-level BPE of GPT-2 or "
                    "Qwen2): it is not exported.")  # fmt: skip


def tokenizer_metadata(tokenizer, config, use_template: bool) -> dict[str, Any]:
    """What the GGUF says of the tokenizer: vocabulary, merges, special tokens, chat template."""
    import gguf

    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    vocab = tokenizer.get_vocab()
    size = max(config.vocab_size, max(vocab.values()) + 1)
    tokens = [f"[PAD{i}]" for i in range(size)]
    types = [int(gguf.TokenType.UNUSED)] * size
    for text, i in vocab.items():
        tokens[i], types[i] = text, int(gguf.TokenType.NORMAL)
    for i, added in tokenizer.added_tokens_decoder.items():
        types[i] = int(gguf.TokenType.CONTROL if added.special else gguf.TokenType.USER_DEFINED)
    merges = [m if isinstance(m, str) else " ".join(m) for m in backend["model"].get("merges", [])]
    probe = tokenizer("a", add_special_tokens=True)["input_ids"]
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    return {
        "pre": pre_tokenizer(tokenizer),
        "tokens": tokens,
        "types": types,
        "merges": merges,
        "bos": tokenizer.bos_token_id,
        "eos": tokenizer.eos_token_id,
        "pad": tokenizer.pad_token_id,
        "unk": tokenizer.unk_token_id,
        "add_bos": len(probe) > len(plain) and probe[0] != plain[0],
        "add_eos": len(probe) > len(plain) and probe[-1] != plain[-1],
        "chat_template": tokenizer.chat_template if use_template else FALLBACK_TEMPLATE,
    }


# ---- Writing


def write_gguf(model, tokenizer, path: Path, quantize: str, name: str, use_template: bool) -> dict[str, Any]:
    """The model and its tokenizer as one GGUF file at ``path``; returns what was written (types, counts)."""
    import gguf
    import numpy as np

    config = model.config
    arch = ARCHITECTURES[type(model).__name__]
    rope = dict(getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {})
    if rope.get("rope_type", "default") != "default":
        raise UserError(f"The model's rotary embedding is scaled ({rope['rope_type']}): hf_transfer writes GGUF "
                        "for unscaled rotary embeddings only.")  # fmt: skip
    theta = rope.get("rope_theta", getattr(config, "rope_theta", None))
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    about = tokenizer_metadata(tokenizer, config, use_template)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(theta))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(len(about["tokens"]))
    file_type = {"f16": "MOSTLY_F16", "q8_0": "MOSTLY_Q8_0", "q4_0": "MOSTLY_Q4_0"}[quantize]
    writer.add_file_type(int(getattr(gguf.LlamaFileType, file_type)))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(about["pre"])
    writer.add_token_list(about["tokens"])
    writer.add_token_types(about["types"])
    writer.add_token_merges(about["merges"])
    for key, add in (("bos", writer.add_bos_token_id), ("eos", writer.add_eos_token_id),
                     ("pad", writer.add_pad_token_id), ("unk", writer.add_unk_token_id)):  # fmt: skip
        if about[key] is not None:
            add(int(about[key]))
    writer.add_add_bos_token(bool(about["add_bos"]))
    writer.add_add_eos_token(bool(about["add_eos"]))
    writer.add_chat_template(about["chat_template"])
    types: dict[str, int] = {}
    for gguf_name, data in _tensors(model, arch):
        kind = tensor_type(gguf_name, data, quantize)
        writer.add_tensor(gguf_name, np.ascontiguousarray(gguf.quants.quantize(data, kind)), raw_dtype=kind)
        types[kind.name] = types.get(kind.name, 0) + 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"architecture": arch, "tensor_types": types, "pre_tokenizer": about["pre"],
            "vocabulary": len(about["tokens"]), "merges": len(about["merges"])}  # fmt: skip


# ---- The export folder


def export(source, requested, staging: Path, quantize: str | None, validation_file, max_eval_samples,
           trust_remote_code: bool, log=print) -> dict[str, Any]:  # fmt: skip
    """Write ``model.gguf``, verify it in llama.cpp (``gguf_verify.verify``), and write the Modelfile, the card and
    the record into ``staging``; a failed check raises (``export.export_run`` then removes ``staging``)."""
    import time

    from hf_transfer.artifacts.gguf_verify import verify
    from hf_transfer.artifacts.onnx_model import file_entry
    from hf_transfer.artifacts.runs import EXPORT_FILE, RunFolder
    from hf_transfer.base.console import quiet
    from hf_transfer.base.files import write_atomically
    from hf_transfer.base.hardware import versions
    from hf_transfer.export.gguf_card import gguf_card, modelfile, ollama_template
    from hf_transfer.run.evaluation import merged_fp32_run

    quantize = quantize or "f16"
    started = time.perf_counter()
    with quiet():
        recipe, model, tokenizer, data, splits, task, tokenized = merged_fp32_run(
            source, validation_file, max_eval_samples, trust_remote_code
        )
        examples, features = splits["validation"], tokenized["validation"]
    if type(model).__name__ not in ARCHITECTURES:
        raise UserError(f"{source.path.name} holds {type(model).__name__}: GGUF export writes "
                        f"{', '.join(ARCHITECTURES)} only.")  # fmt: skip
    use_template = task._uses_template(tokenizer)
    name = staging.name.removesuffix(".partial")
    log(f"[hf-transfer] writing {source.path.name} ({type(model).__name__}) as a {quantize} GGUF")
    written = write_gguf(model, tokenizer, staging / GGUF_FILE, quantize, name, use_template)
    exported = time.perf_counter() - started
    log(f"[hf-transfer] verifying the GGUF in llama.cpp on {len(examples):,} conversations of "
        f"{data.describe_evaluation()}")  # fmt: skip
    with quiet():
        verification = verify(staging / GGUF_FILE, model, tokenizer, task, examples, features, quantize, log)
    verification.update(evaluated_on=data.describe_evaluation(), samples=len(examples),
                        recorded_by_the_run=source.metrics().get("eval", {}).get("eval_loss"))  # fmt: skip
    template = tokenizer.chat_template if use_template else FALLBACK_TEMPLATE
    stops = [tokenizer.eos_token] + (["<|im_start|>"] if "<|im_start|>" in template else [])
    chatml = ollama_template(tokenizer, template)
    write_atomically(staging / MODELFILE, modelfile(GGUF_FILE, chatml, task.system_prompt, list(dict.fromkeys(stops))))
    with quiet():
        tokenizer.save_pretrained(str(staging))  # the run's tokenizer: eval and predict read the data with it
        model.config.save_pretrained(str(staging))
    RunFolder(staging).write_recipe(requested)
    RunFolder(staging).write_learned(source.learned())
    files = [GGUF_FILE, MODELFILE]
    record = {
        "format": "gguf",
        "quantize": quantize,
        "predict_with": GGUF_FILE,
        "task": task.kind,
        "architecture": type(model).__name__,
        "source_run": str(source.path),
        "source_method": recipe.method,
        "merged_adapter": source.has_adapter,
        "gguf": written,
        "ollama_template": "ChatML" if chatml else None,
        "verification": verification,
        "bytes": {n: (staging / n).stat().st_size for n in files},
        "seconds": {"export": exported, "total": time.perf_counter() - started},
        "versions": versions(extra=("gguf", "llama-cpp-python")),
    }
    write_atomically(staging / "README.md", gguf_card(record, recipe, name))
    record["files"] = {n: file_entry(staging / n) for n in files}
    write_atomically(staging / EXPORT_FILE, json.dumps(record, indent=2, default=str) + "\n")
    return record


def summary(record: dict[str, Any]) -> list[str]:
    """What ``hf-transfer export`` prints of a GGUF export."""
    v = record["verification"]
    loss, greedy = v["eval_loss"], v["greedy"]
    return [
        f"Verified in llama.cpp on {v['samples']:,} conversations of {v['evaluated_on']}: tokenization identical on "
        f"{v['tokenization']['identical']} of {v['tokenization']['conversations']}; eval loss {loss['gguf']:.4f} "
        f"({record['quantize']}) vs {loss['pytorch_fp32']:.4f} (PyTorch fp32), {loss['change']:+.2%}; greedy "
        f"continuations agree on {greedy['agree']} of {greedy['prompts']} prompts"
        + (f" (and part at a near-tie on {greedy['near_ties']})" if greedy.get("near_ties") else "")
        + f" ({v['verdict']})",
        f"Export: {record['output_dir']} ({record['predict_with']}, {record['bytes'][GGUF_FILE] / 1e6:.1f} MB; "
        f"Ollama: cd {Path(record['output_dir']).name} && ollama create NAME -f {MODELFILE})",
    ]
