"""What a GGUF export folder holds beside ``model.gguf``: the ``Modelfile`` for Ollama and the README card (how to
run it with llama.cpp, Ollama and llama-cpp-python; what it was verified on, with the numbers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHATML_OLLAMA = """{{ if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ range .Messages }}{{ if ne .Role "system" }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}{{ end }}<|im_start|>assistant
"""
"""ChatML as an Ollama (Go) template: the system prompt (Ollama's SYSTEM, or a system message), each other message,
then the assistant's turn."""
_SYSTEM_OPEN, _END = "<|im_start|>system\n", "<|im_end|>\n"


def _chatml(messages: list[dict], default_system: str | None) -> str:
    """What ``CHATML_OLLAMA`` renders for ``messages`` (the same rules, in Python)."""
    system = next((m["content"] for m in messages if m["role"] == "system"), default_system)
    text = f"{_SYSTEM_OPEN}{system}{_END}" if system else ""
    for m in messages:
        if m["role"] != "system":
            text += f"<|im_start|>{m['role']}\n{m['content']}{_END}"
    return text + "<|im_start|>assistant\n"


def ollama_template(tokenizer, template: str) -> tuple[str, str | None] | None:
    """(``CHATML_OLLAMA``, the template's default system prompt) when the chat template renders ChatML exactly as it
    does on a few conversations (with and without a system message, several turns); None for any other template
    (Ollama then reads the template stored in the GGUF, where it knows it)."""

    def render(messages):
        return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                             add_generation_prompt=True)  # fmt: skip

    try:
        bare = render([{"role": "user", "content": "Hi"}])
    except Exception:  # a template that needs more than role and content (tools, dates)
        return None
    default = bare[len(_SYSTEM_OPEN) : bare.index(_END)] if bare.startswith(_SYSTEM_OPEN) and _END in bare else None
    probes = [
        [{"role": "user", "content": "Hi"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
         {"role": "user", "content": "2+2?"}],
    ]  # fmt: skip
    try:
        same = all(render(p) == _chatml(p, default) for p in probes)
    except Exception:
        return None
    return (CHATML_OLLAMA, default) if same else None


def modelfile(gguf_file: str, chatml: tuple[str, str | None] | None, system: str | None, stops: list[str]) -> str:
    lines = ["# Ollama: ollama create NAME -f Modelfile && ollama run NAME", f"FROM ./{gguf_file}"]
    if chatml is not None:
        lines.append(f'TEMPLATE """{chatml[0]}"""')
        system = system or chatml[1]
    else:
        lines.append("# no TEMPLATE: Ollama uses the chat template stored in the GGUF file")
    if system and '"""' not in system:
        lines.append(f'SYSTEM """{system}"""')
    lines += [f'PARAMETER stop "{s}"' for s in stops if s and '"' not in s]
    return "\n".join(lines) + "\n"


def gguf_card(record: dict[str, Any], recipe, name: str) -> str:
    v = record["verification"]
    loss, greedy, tokens = v["eval_loss"], v["greedy"], v["tokenization"]
    q = record["quantize"]
    bound = (f"at most {loss['tolerance']:.1%} allowed" if loss["tolerance"] is not None
             else f"reported; a warning past {loss['warning_past']:.0%}")  # fmt: skip
    required = f"(at least {greedy['required']:.0%} required)" if greedy["required"] else "(reported)"
    identical = f"{tokens['identical']} of {tokens['conversations']} identical to the run's token ids"
    ties = f", {greedy['near_ties']} more part at a near-tie" if greedy.get("near_ties") else ""
    agreement = f"{greedy['agree']} of {greedy['prompts']} prompts agree with PyTorch{ties} {required}"
    llama_version = record["versions"].get("llama-cpp-python")
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in name.lower())
    return f"""# {name}: GGUF export of {recipe.name} ({q})

The fine-tuned {record["architecture"]} of the hf_transfer run `{Path(record["source_run"]).name}` ({recipe.task.kind},
method {record["source_method"]}{", adapter merged into the base model" if record["merged_adapter"] else ""}), written
as one GGUF file (`{record["predict_with"]}`: weights in {q}, the tokenizer, its special tokens and the chat
template the run was trained with) and verified in llama.cpp itself (llama-cpp-python {llama_version}).

## Verified in llama.cpp on the run's evaluation conversations

{v["samples"]:,} conversations of {v["evaluated_on"]}:

| Check | Result |
|---|---|
| Special tokens (BOS / EOS / pad) as llama.cpp reads them | the run's: {v["special_tokens"]} |
| Prompts rendered by the GGUF's chat template, tokenized by llama.cpp | {identical} |
| Eval loss (mean over response tokens), PyTorch fp32 | {loss["pytorch_fp32"]:.4f} |
| Eval loss from llama.cpp's logits | {loss["gguf"]:.4f} ({loss["change"]:+.2%}; {bound}) |
| Greedy continuations, first {greedy["tokens"]} tokens | {agreement} |

Verdict: **{v["verdict"]}**. An export that fails a check is not kept.

## Run it

llama.cpp (the chat template in the file formats the conversation):

```sh
llama-cli -m {name}/{record["predict_with"]} -cnv
llama-server -m {name}/{record["predict_with"]} --jinja   # OpenAI-compatible API on http://localhost:8080
```

Ollama (`Modelfile`: the file, the template and the stop tokens):

```sh
cd {name} && ollama create {slug} -f Modelfile && ollama run {slug}
```

Python, with llama-cpp-python:

```python
from llama_cpp import Llama

llm = Llama(model_path={f"{name}/{record['predict_with']}"!r}, n_ctx=2048)
reply = llm.create_chat_completion(messages=[{{"role": "user", "content": "Hello!"}}])
print(reply["choices"][0]["message"]["content"])
```
"""
