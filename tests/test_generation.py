"""Generation tasks: seq2seq (tiny T5) and causal-LM instruction tuning (tiny Llama)."""

from __future__ import annotations

import json

import pytest

from hf_transfer import FileData, InstructionTuning, Seq2SeqGeneration, UserError
from hf_transfer.data.prepare import load_splits
from hf_transfer.tasks import IGNORE_INDEX as IGNORE
from hf_transfer.tasks.causal_lm import PROMPT_TEMPLATE

from conftest import CHAT_TEMPLATE, TINY_TRAINING, instruction_rows, write_jsonl

# ---- metrics ------------------------------------------------------------------------------


def test_rouge_by_hand():
    from hf_transfer.metrics import load_metric

    # unigrams: 2 of 3 shared -> P = R = F = 2/3 ; bigrams: "the cat" of 2 -> 1/2 ; LCS "the cat" -> 2/3
    result = load_metric("rouge").compute(predictions=["the cat sat"], references=["the cat ran"])
    assert result["rouge1"] == pytest.approx(2 / 3)
    assert result["rouge2"] == pytest.approx(1 / 2)
    assert result["rougeL"] == pytest.approx(2 / 3)
    assert load_metric("rouge").compute(predictions=["a b c"], references=["a b c"])["rougeLsum"] == pytest.approx(1.0)


def test_sacrebleu_by_hand():
    from hf_transfer.metrics import load_metric

    bleu = load_metric("sacrebleu")
    same = bleu.compute(predictions=["the cat is on the mat ."], references=[["the cat is on the mat ."]])
    assert same["bleu"] == pytest.approx(100.0) and same["chrf"] == pytest.approx(100.0)
    assert bleu.compute(predictions=["xyz qqq"], references=[["the cat is on the mat ."]])["bleu"] == pytest.approx(0.0)
    # 4 of 6 tokens, brevity penalty exp(1 - 6/4): precisions 4/4, 3/3, 2/2, 1/1 -> BLEU = 100 * BP
    import math

    short = bleu.compute(predictions=["the cat is on"], references=[["the cat is on the mat"]])
    assert short["bleu"] == pytest.approx(100 * math.exp(1 - 6 / 4), rel=1e-3)


# ---- seq2seq ------------------------------------------------------------------------------


def seq2seq_files(root, n_train=60, n_valid=12):
    import random

    rng = random.Random(0)
    words = ["anna", "paris", "good", "film", "oslo", "pilot"]
    rows = []
    for _ in range(n_train + n_valid):
        source = " ".join(rng.choice(words) for _ in range(6))
        rows.append({"document": source, "summary": " ".join(source.split()[:2])})
    return write_jsonl(root / "train.jsonl", rows[:n_train]), write_jsonl(root / "valid.jsonl", rows[n_train:])


def test_seq2seq_tokenization_uses_text_target_and_prefix(tiny_t5):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_t5)
    task = Seq2SeqGeneration(source_prefix="story ", max_source_length=16, max_target_length=4)
    out = task.tokenize_function(tokenizer)({"source": ["anna visited paris"], "target": ["anna in paris today"]})
    assert tokenizer.decode(out["input_ids"][0], skip_special_tokens=True) == "story anna visited paris"
    assert len(out["labels"][0]) == 4, "targets truncated to max_target_length"
    batch = task.collator(tokenizer)(
        [{k: v[0] for k, v in out.items()}, {"input_ids": [2, 5, 3], "attention_mask": [1, 1, 1], "labels": [2, 3]}]
    )
    labels = batch["labels"][1].tolist()
    assert labels[:4] == [2, 3, IGNORE, IGNORE] and set(labels[4:]) <= {IGNORE}, "labels padded with -100"
    assert len(labels) % 8 == 0, "to a multiple of 8 tokens (tasks.PAD_MULTIPLE)"


@pytest.mark.parametrize("method", ["full", "lora"])
def test_seq2seq_run_generates_in_eval(tiny_t5, tmp_path, run_cli, method):
    train, valid = seq2seq_files(tmp_path)
    out = tmp_path / method
    code, stdout, err = run_cli(
        "run",
        "xsum-t5-small",
        "--method",
        method,
        "--model_name_or_path",
        tiny_t5,
        "--train_file",
        train,
        "--validation_file",
        valid,
        "--set",
        "task.max_new_tokens=8",
        "--set",
        "task.num_beams=2",
        "--output_dir",
        out,
        *TINY_TRAINING,
        "--num_train_epochs",
        "2",
    )
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reload_check"]["metric"] == "eval_rougeL" and metrics["reload_check"]["match"]
    assert 0 < metrics["eval"]["eval_gen_len"] <= 8 + 2, "generation ran, bounded by max_new_tokens"
    for key in ("eval_rouge1", "eval_rouge2", "eval_rougeLsum"):
        assert 0.0 <= metrics["eval"][key] <= 1.0
    code, stdout, err = run_cli("predict", out, "anna paris good film oslo pilot")
    assert code == 0, err
    assert stdout.splitlines()[1].startswith("  -> ")


def test_translation_reads_nested_columns(tmp_path):
    rows = [{"translation": {"en": f"house {i}", "ro": f"casa {i}"}} for i in range(10)]
    path = write_jsonl(tmp_path / "wmt.jsonl", rows)
    splits, _ = load_splits(
        FileData(
            train_file=str(path),
            validation_file=str(path),
            columns={"source": "translation.en", "target": "translation.ro"},
        ),
        Seq2SeqGeneration(objective="translation"),
    )
    assert splits["validation"][3] == {"source": "house 3", "target": "casa 3"}


def test_empty_target_is_refused(tmp_path):
    path = write_jsonl(
        tmp_path / "bad.jsonl", [{"source": "a text", "target": "ok"}, {"source": "b text", "target": " "}] * 2
    )
    with pytest.raises(UserError, match="Row 1 of the train split has an empty target text"):
        load_splits(FileData(train_file=str(path)), Seq2SeqGeneration())


# ---- causal LM: formatting and masking ------------------------------------------------------


def test_prompt_is_masked_token_by_token(tiny_llama):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    task = InstructionTuning(max_length=64)
    row = {"instruction": ["where does anna live"], "input": [""], "output": ["anna lives in oslo"]}
    out = task.tokenize_function(tokenizer)(row)
    ids, labels = out["input_ids"][0], out["labels"][0]
    prompt_ids = tokenizer(PROMPT_TEMPLATE.format(instruction="where does anna live"))["input_ids"]
    response_ids = tokenizer("anna lives in oslo" + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    assert ids == prompt_ids + response_ids
    assert labels[: len(prompt_ids)] == [IGNORE] * len(prompt_ids)
    assert labels[len(prompt_ids) :] == response_ids
    assert tokenizer.decode([t for t in labels if t != IGNORE]) == "anna lives in oslo [SEP]"


def test_chat_template_is_used_when_there_is_one(tiny_llama, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    tokenizer.chat_template = CHAT_TEMPLATE
    task = InstructionTuning(max_length=64, system_prompt="be brief")
    out = task.tokenize_function(tokenizer)({"instruction": ["where does anna live ?"], "output": ["in oslo ."]})
    ids, labels = out["input_ids"][0], out["labels"][0]
    text = tokenizer.decode(ids)
    assert (
        text.index("system")
        < text.index("be brief")
        < text.index("user")
        < text.index("assistant")
        < text.index("in oslo")
    )
    answer = tokenizer.decode([t for t in labels if t != IGNORE])
    assert answer.startswith("in oslo") and "where" not in answer and "system" not in answer


def test_messages_format(tiny_llama):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    tokenizer.chat_template = CHAT_TEMPLATE
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]
    out = InstructionTuning(max_length=64).tokenize_function(tokenizer)({"messages": [messages]})
    assert tokenizer.decode([t for t in out["labels"][0] if t != IGNORE]).startswith("hello there")


@pytest.mark.parametrize(
    ("rows", "task", "message"),
    [
        ([{"instruction": "a", "response": "b"}] * 3, InstructionTuning(), "needs 'instruction' and 'output' columns"),
        (
            [{"instruction": "a", "output": ""}] * 3,
            InstructionTuning(),
            "The response (output) in row 0 of the train split is missing or empty",
        ),
        (
            [{"instruction": " ", "output": "b"}] * 3,
            InstructionTuning(),
            "The instruction in row 0 of the train split is missing or empty",
        ),
        (
            [{"messages": [{"role": "user", "content": "hi"}]}] * 3,
            InstructionTuning(),
            "must end with a non-empty assistant message",
        ),
    ],
)
def test_bad_instruction_data(tmp_path, rows, task, message):
    path = write_jsonl(tmp_path / "sft.jsonl", rows)
    with pytest.raises(UserError) as exc:
        load_splits(FileData(train_file=str(path)), task)
    assert message in str(exc.value)


def test_no_room_for_the_response_and_missing_template(tiny_llama, tmp_path, run_cli):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    long_row = {"instruction": ["where does anna live ? " * 20], "output": ["oslo"]}
    with pytest.raises(UserError, match="leaving no room for the response within task.max_length=16"):
        InstructionTuning(max_length=16).tokenize_function(tokenizer)(long_row)
    with pytest.raises(UserError, match="has no chat template"):
        InstructionTuning(use_chat_template=True).tokenize_function(tokenizer)
    train = write_jsonl(tmp_path / "t.jsonl", instruction_rows(8))
    code, _, err = run_cli(
        "run",
        "alpaca-smollm2",
        "--model_name_or_path",
        tiny_llama,
        "--train_file",
        train,
        "--set",
        "task.use_chat_template=true",
        "--set",
        "task.max_length=128",
        "--output_dir",
        tmp_path / "x",
    )
    assert code == 2 and "has no chat template" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_packing_keeps_examples_apart(tiny_llama):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    task = InstructionTuning(max_length=64, packing=True)
    rows = {"instruction": ["where does anna live ?", "where does boris live ?"], "output": ["in oslo .", "in lima ."]}
    features = task.tokenize_function(tokenizer)(rows)
    examples = [{k: features[k][i] for k in ("input_ids", "labels")} for i in range(2)]
    packed = task.collator(tokenizer)(examples)
    assert packed["input_ids"].shape[0] == 1, "one row, no padding"
    assert packed["position_ids"][0].tolist() == list(range(len(examples[0]["input_ids"]))) + list(
        range(len(examples[1]["input_ids"]))
    )
    assert task.training_defaults()["use_cache"] is False, "a KV cache would turn off the packed-sequence masks"
    with torch.no_grad():
        together = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False).logits[0]
        alone = [model(input_ids=torch.tensor([e["input_ids"]]), use_cache=False).logits[0] for e in examples]
    n = len(examples[0]["input_ids"])
    assert torch.allclose(together[:n], alone[0], atol=1e-5)
    assert torch.allclose(together[n:], alone[1], atol=1e-5), "the second example does not see the first"


def _sft_trainer(tiny_llama, tmp_path, eval_batch: int, rows: int = 5, model=None):
    """The instruction-tuning Trainer of a run, on a tiny Llama and rows with prompts and responses of mixed lengths."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_transfer.run.arguments import make_training_args
    from hf_transfer.run.trainer import trainer_class

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    task = InstructionTuning(max_length=64)
    data = {
        "instruction": ["where does anna live ?" + " and" * (3 * i) for i in range(rows)],
        "output": ["in oslo ." + " yes" * (5 - i) * 2 for i in range(rows)],
    }
    features = Dataset.from_dict(task.tokenize_function(tokenizer)(data))
    settings = {"per_device_eval_batch_size": eval_batch, "report_to": "none", "use_cpu": True}
    args = make_training_args(tmp_path / f"x{eval_batch}", {**settings, **task.training_defaults()}, task)
    model = model or AutoModelForCausalLM.from_pretrained(tiny_llama)
    trainer = trainer_class(task)(model=model, args=args, eval_dataset=features, data_collator=task.collator(tokenizer))
    return trainer, features, task.collator(tokenizer)


def test_response_loss_is_the_models_own_loss_from_the_labelled_positions_only(tiny_llama, tmp_path):
    import torch

    trainer, features, collate = _sft_trainer(tiny_llama, tmp_path, 4)
    model = trainer.model.train()
    batch = collate([features[i] for i in range(4)])
    labelled = int((batch["labels"][:, 1:] != IGNORE).sum())
    assert 0 < labelled < batch["labels"].numel() / 2, "prompts and padding make up most positions"
    head_rows = []
    hook = model.get_output_embeddings().register_forward_hook(lambda m, args, out: head_rows.append(args[0].shape))
    try:
        ours = trainer.compute_loss(model, dict(batch))
    finally:
        hook.remove()
    assert head_rows == [torch.Size([labelled, model.config.hidden_size])], "the head sees labelled positions only"
    ours.backward()
    ours_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    own = model(**batch).loss
    own.backward()
    assert ours.item() == pytest.approx(own.item(), rel=1e-5)
    assert all(torch.allclose(a, p.grad, atol=1e-6) for a, p in zip(ours_grads, model.parameters(), strict=True))
    # with the accumulated batch's token count, as the Trainer passes it: the sum over it, like the model's loss
    scaled = trainer.compute_loss(model, dict(batch), num_items_in_batch=torch.tensor(2 * labelled))
    assert scaled.item() == pytest.approx(own.item() / 2, rel=1e-5)


def test_a_mixture_of_experts_keeps_its_router_loss(tiny_llama, tmp_path):
    import torch
    from transformers import AutoTokenizer, MixtralConfig, MixtralForCausalLM

    config = MixtralConfig(
        vocab_size=len(AutoTokenizer.from_pretrained(tiny_llama)),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        num_local_experts=4,
        num_experts_per_tok=1,
        output_router_logits=True,
        router_aux_loss_coef=0.5,
    )
    torch.manual_seed(0)
    trainer, features, collate = _sft_trainer(tiny_llama, tmp_path, 4, model=MixtralForCausalLM(config))
    batch = collate([features[i] for i in range(4)])
    own = trainer.model(**batch)
    assert own.aux_loss is not None and own.aux_loss.item() > 0
    assert trainer.compute_loss(trainer.model, dict(batch)).item() == pytest.approx(own.loss.item(), rel=1e-5)


def test_eval_loss_is_the_mean_over_response_tokens_whatever_the_batches(tiny_llama, tmp_path):
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM

    # an untrained model's loss is about log(vocabulary) at every token, so every way of averaging agrees to 1e-4:
    # a sharpened output layer makes the tokens' losses differ, as a trained model's do
    sharp = AutoModelForCausalLM.from_pretrained(tiny_llama)
    with torch.no_grad():
        sharp.get_output_embeddings().weight.mul_(30.0)
    losses = {}
    for batch_size in (1, 2, 5):
        trainer, features, _ = _sft_trainer(tiny_llama, tmp_path, batch_size, model=sharp)
        losses[batch_size] = trainer.evaluate()["eval_loss"]
    model = trainer.model.eval()
    total = tokens = 0.0
    with torch.no_grad():
        for row in features:
            logits = model(input_ids=torch.tensor([row["input_ids"]])).logits[0, :-1]
            labels = torch.tensor(row["labels"][1:])
            total += F.cross_entropy(logits, labels, ignore_index=IGNORE, reduction="sum").item()
            tokens += int((labels != IGNORE).sum())
    assert losses[1] == pytest.approx(total / tokens, rel=1e-5)
    assert losses[2] == pytest.approx(total / tokens, rel=1e-5) and losses[5] == pytest.approx(total / tokens, rel=1e-5)
    # the mean of per-example means (what batches of one average to in a plain Trainer) differs
    per_example = []
    with torch.no_grad():
        for row in features:
            per_example.append(model(**{k: torch.tensor([row[k]]) for k in ("input_ids", "labels")}).loss.item())
    assert abs(sum(per_example) / len(per_example) - total / tokens) > 1e-3


# ---- causal LM: runs, reload, merge ---------------------------------------------------------


@pytest.fixture(scope="module")
def sft_runs(finished_run):
    """Finished LoRA (merged with --merge_adapter) and full (packed) SFT runs from the task x method matrix."""
    return {method: finished_run("causal-lm", method) for method in ("lora", "full")}


@pytest.mark.parametrize("method", ["lora", "full"])
def test_sft_run_folder(sft_runs, method):
    out = sft_runs[method]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reload_check"]["metric"] == "eval_loss" and metrics["reload_check"]["match"]
    assert metrics["eval"]["eval_perplexity"] == pytest.approx(2.718281828 ** metrics["eval"]["eval_loss"], rel=1e-6)
    state = json.loads((out / "trainer_state.json").read_text())
    first_eval = next(h["eval_loss"] for h in state["log_history"] if "eval_loss" in h)
    assert metrics["eval"]["eval_loss"] <= first_eval, "the best checkpoint is kept"
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 3 and all({"prompt", "reference", "generated"} <= set(s) for s in samples)
    assert samples[0]["prompt"].startswith("where does")


def test_lora_reload_and_merge_keep_logits(sft_runs):
    import torch

    from hf_transfer.artifacts.models import load_run

    _, adapter, tokenizer = load_run(sft_runs["lora"])
    _, again, _ = load_run(sft_runs["lora"])
    merged_dir = sft_runs["lora"].with_name("lora-merged")
    assert (merged_dir / "model.safetensors").is_file() and not (merged_dir / "adapter_config.json").exists()
    assert json.loads((merged_dir / "metrics.json").read_text())["merged_from"] == str(sft_runs["lora"])
    _, merged, _ = load_run(merged_dir)
    batch = tokenizer(["where does anna live ?"], return_tensors="pt")
    with torch.no_grad():
        a, b, c = adapter(**batch).logits, again(**batch).logits, merged(**batch).logits
    assert torch.equal(a, b)
    assert torch.allclose(a, c, atol=1e-5)


def test_merge_refuses_full_runs_and_existing_output(sft_runs, run_cli):
    code, _, err = run_cli("merge", sft_runs["full"])
    assert code == 2 and "nothing to merge" in err
    code, _, err = run_cli("merge", sft_runs["lora"])
    assert code == 2 and "already holds a finished run" in err


def test_sft_predict(sft_runs, run_cli):
    code, stdout, err = run_cli("predict", sft_runs["lora"], "where does anna live ?")
    assert code == 0, err
    assert stdout.startswith("where does anna live ?\n  -> ")


# ---- causal LM: what it generates (issue 29) ----------------------------------------------


def test_eos_is_taught_when_the_pad_token_is_the_eos_token(tiny_smollm2):
    """SmolLM2's pad token is its EOS token: the response's closing EOS stays a label (only the collator's padding is
    ignored), so the model learns to stop."""
    from transformers import AutoTokenizer

    from hf_transfer.tasks.causal_lm import InstructionTuning

    tokenizer = AutoTokenizer.from_pretrained(tiny_smollm2)
    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    rows = {
        "instruction": ["hi", "where does anna live ?"],
        "input": ["", ""],
        "output": ["yes .", "anna lives in rome ."],
    }
    task = InstructionTuning(packing=False)  # padded batches: the padding (also EOS ids) is no label
    encoded = task.tokenize_function(tokenizer)(rows)
    batch = task.collator(tokenizer)([{k: encoded[k][i] for k in encoded} for i in range(2)])
    for row, ids in zip(batch["labels"].tolist(), encoded["input_ids"], strict=True):
        taught = [t for t in row if t != IGNORE]
        assert tokenizer.eos_token_id in taught, "the response's EOS is a label"
        assert all(t == IGNORE for t in row[len(ids) :]), "padding is not"
    packed = InstructionTuning()  # the default: one row, no padding, both closing EOS tokens still labels
    assert packed.packing
    batch = packed.collator(tokenizer)([{k: encoded[k][i] for k in encoded} for i in range(2)])
    assert batch["labels"].shape[0] == 1
    assert batch["labels"][0].tolist().count(tokenizer.eos_token_id) == 2


def test_a_fine_tuned_model_stops_at_eos(tiny_smollm2, tmp_path, run_cli):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rows = [{"instruction": "where does anna live ?", "input": "", "output": "anna lives in rome ."}] * 16
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    code, out, err = run_cli("run", "alpaca-smollm2", "--method", "full", "--model_name_or_path", tiny_smollm2,
                             "--train_file", train, "--validation_file", train, "--max_steps", "40",
                             "--learning_rate", "1e-2", "--per_device_train_batch_size", "4", "--warmup_steps", "0",
                             "--set", "task.num_samples=0", "--output_dir", tmp_path / "run")  # fmt: skip
    assert code == 0, err
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "run")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "run").eval()
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "where does anna live ?"}], tokenize=False,
                                           add_generation_prompt=True)  # fmt: skip
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        output = model.generate(**ids, max_new_tokens=30, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    new = output[0, ids["input_ids"].shape[1] :].tolist()
    assert tokenizer.eos_token_id in new and len(new) < 30, tokenizer.decode(new)
    assert tokenizer.decode(new, skip_special_tokens=True).strip() == "anna lives in rome ."


def test_a_packed_lora_run_is_reloaded_with_its_packed_masks(tiny_smollm2, tmp_path, run_cli):
    """An adapter's reloaded base kept its checkpoint's KV-cache setting: with a cache, transformers ignores packed
    rows' position ids, so the reloaded model attended across the examples flattened into one evaluation row and the
    reload check refused every packed LoRA run (SmolLM2 on Alpaca: outputs 45 apart, 618 predictions changed)."""
    names = ["anna", "boris", "carla", "dmitri", "elena", "fabio", "greta", "hugo", "ines", "jonas"]
    places = ["rome", "oslo", "lima", "kyiv", "cairo", "quito", "bern", "riga", "doha", "baku"]
    rows = [{"instruction": f"where does {n} live ?", "input": "", "output": f"{n} lives in {p} ."}
            for n, p in zip(names, places, strict=True)]  # fmt: skip
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    code, out, err = run_cli("run", "alpaca-smollm2", "--method", "lora", "--model_name_or_path", tiny_smollm2,
                             "--train_file", train, "--validation_file", train, "--max_steps", "4",
                             "--learning_rate", "1e-2", "--per_device_train_batch_size", "4", "--warmup_steps", "0",
                             "--set", "task.packing=true", "--set", "task.num_samples=0", "--bf16", "false",
                             "--output_dir", tmp_path / "run")  # fmt: skip
    assert code == 0, err[-3000:]
    check = json.loads((tmp_path / "run" / "metrics.json").read_text())["reload_check"]
    assert check["match"] and check["rows"] == 8, check  # the 8 rows flattened into one evaluation row
    assert check["changed_predictions"] == 0 and check["max_difference"] <= 1e-4 * max(1.0, check["scale"])


def test_batched_generation_gives_the_one_at_a_time_responses(tiny_smollm2, monkeypatch):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_transfer.tasks.causal_lm import InstructionTuning

    tokenizer = AutoTokenizer.from_pretrained(tiny_smollm2)
    # the untrained model says mostly special tokens: compare the generated ids themselves
    monkeypatch.setattr(tokenizer, "decode", lambda ids, skip_special_tokens=True: str(ids.tolist()))
    model = AutoModelForCausalLM.from_pretrained(tiny_smollm2).eval()
    torch.manual_seed(0)
    for weight in model.parameters():  # weights that answer each prompt differently
        weight.data.normal_(0, 0.5)
    task = InstructionTuning(max_new_tokens=8)
    prompts = [
        task._texts(tokenizer, task._conversation({"instruction": text, "output": "-"}, "a test"), True)[0]
        for text in ("hi", "where does anna live ?", "name three cities where people live and work", "ok")
    ]
    one = task._generate(model, tokenizer, prompts, True, batch_size=1)
    assert task._generate(model, tokenizer, prompts, True, batch_size=3) == one
    assert len(one) == 4 and len(set(one)) > 1, "answers in the prompts' order, not the sorted one"


def test_generation_metrics_score_a_seeded_sample_of_generated_responses(tiny_smollm2, tmp_path, run_cli):
    import random

    from hf_transfer.artifacts.models import load_run
    from hf_transfer.metrics import load_metric

    train = write_jsonl(tmp_path / "train.jsonl", instruction_rows(40, seed=1))
    valid = write_jsonl(tmp_path / "valid.jsonl", instruction_rows(12, seed=2))
    code, out, err = run_cli("run", "alpaca-smollm2", "--method", "full", "--model_name_or_path", tiny_smollm2,
                             "--train_file", train, "--validation_file", valid, "--max_steps", "6",
                             "--set", "metrics=[rouge, exact_match]", "--set", "task.generation_samples=5",
                             "--set", "task.max_new_tokens=6", "--set", "task.num_samples=0",
                             "--output_dir", tmp_path / "run")  # fmt: skip
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["eval"]
    assert metrics["eval_generated_examples"] == 5
    assert 0 <= metrics["eval_exact_match"] <= 1 and 0 <= metrics["eval_rougeL"] <= 1
    assert "eval_loss" in metrics and "eval_perplexity" in metrics, "next to the loss"
    card = (tmp_path / "run" / "README.md").read_text()
    assert "rougeL" in card and "exact_match" in card
    # the same sample, generated one at a time and scored here: the same numbers
    recipe, model, tokenizer = load_run(tmp_path / "run")
    task = recipe.task
    rows = instruction_rows(12, seed=2)
    picked = sorted(random.Random(42).sample(range(12), 5))
    prompts = [task._texts(tokenizer, task._conversation(rows[i], "x"), True)[0] for i in picked]
    generated = task._generate(model, tokenizer, prompts, True, batch_size=1)
    references = [rows[i]["output"] for i in picked]
    expected = load_metric("rouge").compute(predictions=generated, references=references)
    assert metrics["eval_rougeL"] == pytest.approx(expected["rougeL"])
    expected = load_metric("exact_match").compute(predictions=generated, references=references)
    assert metrics["eval_exact_match"] == pytest.approx(expected["exact_match"])


def test_an_asked_evaluation_batch_size_wins_over_the_tasks_own(finished_run, monkeypatch):
    """Instruction tuning evaluates 8 rows at a time by default; ``hf-transfer eval --per_device_eval_batch_size``
    (and a run's own flag, which reaches the saved model's evaluation the same way) was overwritten by that default."""
    from hf_transfer.run import evaluation

    run = finished_run("causal-lm", "lora")
    seen = []
    make = evaluation.make_training_args

    def recording(folder, settings, task):
        seen.append(settings["per_device_eval_batch_size"])
        return make(folder, settings, task)

    monkeypatch.setattr(evaluation, "make_training_args", recording)
    evaluation.evaluate_run(run, batch_size=2, output_file=run.parent / "eval-batch-2.json")
    evaluation.evaluate_run(run, output_file=run.parent / "eval-default.json")
    assert seen == [2, 8], "the asked size, then the task's own default (not hf_transfer's 128)"
