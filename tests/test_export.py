"""``hf-transfer export``: ONNX exports verified on the run's evaluation data, predicted and evaluated with like a run,
int8 quantization, adapter runs merged without touching them, and every refusal (issue 29)."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def digest(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def exported(finished_run, tmp_path_factory):
    """The tiny classifier's run exported with int8 beside fp32 (made once for the module)."""
    from hf_transfer.cli import main

    run = finished_run("text-classification", "full")
    out = tmp_path_factory.mktemp("export") / "cls-onnx"
    main(argv=["export", str(run), "--quantize", "int8", "--output_dir", str(out)])
    return run, out


def test_a_classifier_export_scores_like_the_run_and_predicts_the_same(exported, run_cli, tmp_path):
    run, out = exported
    record = json.loads((out / "export.json").read_text())
    v = record["verification"]
    assert v["metric"] == "eval_accuracy" and v["samples"] == 40
    # row by row over all 40 rows, both in fp32: outputs within the tolerance, no prediction changed
    assert v["predictions"] == 40 and v["changed_predictions"] == 0 and v["changed_allowed"] == 1
    assert v["max_output_difference"] < 1e-4 <= v["output_tolerance"]
    assert v["onnx_fp32"] == v["pytorch_fp32"] and v["drift_points"] == 0
    assert record["fused_operators"].get("SkipLayerNormalization"), "onnxruntime's BERT fusions applied, and verified"
    if not json.loads((run / "metrics.json").read_text())["training_arguments"].get("bf16"):
        assert v["pytorch_fp32"] == pytest.approx(v["recorded_by_the_run"], abs=1e-6), "the run's own metric"
    assert "onnx_int8" in v and v["int8_change_points"] == pytest.approx(
        (v["onnx_int8"] - v["pytorch_fp32"]) * 100, abs=1e-6)  # fmt: skip
    assert record["predict_with"] == "model_int8.onnx" and set(record["files"]) == {"model.onnx", "model_int8.onnx"}
    assert {"config.json", "tokenizer.json", "recipe.yaml", "README.md"} <= {p.name for p in out.iterdir()}
    assert not (out.parent / "cls-onnx.partial").exists()
    card = (out / "README.md").read_text()
    assert "onnxruntime" in card and "InferenceSession" in card and f"{v['pytorch_fp32']:.4f}" in card
    assert "0 of\n40 predictions changed" in card and "do not depend on which rows share a batch" in card

    texts = ["a great warm film", "a dull and boring story", "fine"]
    code, on_run, err = run_cli("predict", run, *texts)
    assert code == 0, err
    fp32 = tmp_path / "fp32"
    shutil.copytree(out, fp32)
    fp32_record = {**record, "predict_with": "model.onnx"}
    (fp32 / "export.json").write_text(json.dumps(fp32_record))
    code, on_export, err = run_cli("predict", fp32, *texts)
    assert code == 0, err
    assert on_export == on_run, "the fp32 export predicts what the run predicts"
    code, quantized, err = run_cli("predict", out, *texts)
    assert code == 0 and len(quantized.splitlines()) == len(on_run.splitlines()), err
    assert "predictions by model_int8.onnx (int8, run row by row)" in err, "predict says which file answered"


def test_int8_answers_do_not_move_with_the_batch(exported, run_cli, tmp_path):
    """Dynamic quantization scales a batch's activations together: the export runs int8 row by row, so eval at any
    batch size gives the number export.json verified."""
    _, out = exported
    record = json.loads((out / "export.json").read_text())
    for size in ("1", "7", "64"):
        code, _, err = run_cli("eval", out, "--per_device_eval_batch_size", size, "--output_file",
                               tmp_path / f"eval-{size}.json")  # fmt: skip
        assert code == 0, err
        metrics = json.loads((tmp_path / f"eval-{size}.json").read_text())["metrics"]
        assert metrics["eval_accuracy"] == record["verification"]["onnx_int8"], size
    assert "predictions by model_int8.onnx" in err


def test_the_export_reference_is_fp32_whatever_the_device_default(finished_run, tmp_path, monkeypatch):
    """On a CPU with native bf16 the device default is bf16 autocast; the export's reference must still be fp32
    (HF_TRANSFER_CPU_BF16=1 makes any CPU take the bf16-default path)."""
    from hf_transfer.base.hardware import device_defaults
    from hf_transfer.export.onnx import export_run
    from hf_transfer.run import evaluation

    run_dir = finished_run("text-classification", "full")  # trained (or reused) before the spy and the bf16 default
    monkeypatch.setenv("HF_TRANSFER_CPU_BF16", "1")
    assert device_defaults()["bf16"] is True
    seen = []
    real = evaluation.evaluate_model

    def spy(model, *args, **kwargs):
        import transformers

        made = transformers.TrainingArguments.__init__

        def record(self, *a, **k):
            made(self, *a, **k)
            seen.append((type(model).__name__, self.bf16))

        monkeypatch.setattr(transformers.TrainingArguments, "__init__", record)
        try:
            return real(model, *args, **kwargs)
        finally:
            monkeypatch.setattr(transformers.TrainingArguments, "__init__", made)

    monkeypatch.setattr(evaluation, "evaluate_model", spy)
    export_run(run_dir, tmp_path / "o", log=lambda *a: None)
    assert ("BertForSequenceClassification", False) in seen and all(bf16 is False for _, bf16 in seen), seen


def test_eval_and_diff_take_an_export_like_a_run(exported, run_cli, tmp_path):
    run, out = exported
    code, text, err = run_cli("eval", out, "--output_file", tmp_path / "eval.json")
    assert code == 0, err
    metrics = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    record = json.loads((out / "export.json").read_text())
    assert metrics["eval_accuracy"] == pytest.approx(record["verification"]["onnx_int8"])
    assert "eval_loss" not in metrics, "the export computes no loss: none is reported"
    code, text, err = run_cli("diff", run, out, "--output_file", tmp_path / "flips.jsonl")
    assert code == 0, err
    assert (tmp_path / "flips.jsonl").is_file()


@pytest.mark.parametrize("bf16_default", ["1", "0"])
@pytest.mark.parametrize("task", ["token-classification", "question-answering", "multiple-choice"])
def test_every_encoder_family_exports_and_verifies(finished_run, run_cli, tmp_path, task, bf16_default, monkeypatch):
    """On CPUs with and without native bf16 (forced both ways), every family's export verifies against fp32."""
    run = finished_run(task, "full")
    monkeypatch.setenv("HF_TRANSFER_CPU_BF16", bf16_default)
    code, out, err = run_cli("export", run, "--output_dir", tmp_path / "onnx")
    assert code == 0, err
    record = json.loads((tmp_path / "onnx" / "export.json").read_text())
    v = record["verification"]
    assert v["changed_predictions"] <= v["changed_allowed"] and v["max_output_difference"] <= v["output_tolerance"]
    assert record["outputs"] == (["start_logits", "end_logits"] if task == "question-answering" else ["logits"])
    if task == "token-classification":
        code, on_run, _ = run_cli("predict", run, "John lives in Paris")
        code2, on_export, err = run_cli("predict", tmp_path / "onnx", "John lives in Paris")
        assert code == code2 == 0 and on_export == on_run, err


def test_an_adapter_run_is_merged_for_the_export_and_left_as_it_is(finished_run, run_cli, tmp_path):
    run = finished_run("text-classification", "lora")
    before = digest(run)
    code, out, err = run_cli("export", run, "--output_dir", tmp_path / "onnx")
    assert code == 0, err
    assert "it/s" not in out + err, "no unlabelled progress bars of the Trainer's own when the output is piped"
    assert digest(run) == before, "the run folder keeps its adapter, untouched"
    record = json.loads((tmp_path / "onnx" / "export.json").read_text())
    assert record["merged_adapter"] and record["verification"]["changed_predictions"] == 0
    assert not (tmp_path / "onnx" / "adapter_config.json").exists()


# ---- refusals -------------------------------------------------------------------------------


def test_generation_runs_and_unfinished_runs_are_refused(finished_run, run_cli, tmp_path):
    code, out, err = run_cli("export", finished_run("seq2seq", "full"), "--output_dir", tmp_path / "s2s")
    assert code == 2 and "seq2seq run, which is not exported" in err and "decoder steps" in err
    assert not (tmp_path / "s2s").exists() and not (tmp_path / "s2s.partial").exists()
    unfinished = tmp_path / "run"
    shutil.copytree(finished_run("text-classification", "full"), unfinished)
    (unfinished / "metrics.json").unlink()
    code, out, err = run_cli("export", unfinished, "--output_dir", tmp_path / "o")
    assert code == 2 and "not a finished run folder" in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--quantize", "fp16"], "the onnx format quantizes to int8 only"),
        (["--format", "tflite"], "hf_transfer exports onnx"),
        (["--max_eval_samples", "0"], "--max_eval_samples must be 1 or more"),
    ],
)
def test_bad_flags_are_refused_before_any_work(finished_run, run_cli, tmp_path, flags, message):
    code, out, err = run_cli("export", finished_run("text-classification", "full"), "--output_dir", tmp_path / "o",
                             *flags)  # fmt: skip
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_an_export_is_not_merged_pushed_or_exported_again(exported, run_cli, tmp_path):
    _, out = exported
    for command in (["merge", out], ["export", out, "--output_dir", tmp_path / "again"]):
        code, _, err = run_cli(*command)
        assert code == 2 and "is an ONNX export, not a run" in err, err


def test_a_read_only_output_folder_is_refused(finished_run, run_cli, tmp_path, monkeypatch):
    import os

    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        if os.access(parent, os.W_OK):  # root writes anyway: make the folder's creation fail as a full disk would
            real = type(parent).mkdir

            def refuse(self, *args, **kwargs):
                if self.parent == parent:
                    raise PermissionError(13, "Permission denied", str(self))
                return real(self, *args, **kwargs)

            monkeypatch.setattr(type(parent), "mkdir", refuse)
        code, out, err = run_cli("export", finished_run("text-classification", "full"), "--output_dir", parent / "o")
    finally:
        parent.chmod(0o700)
    assert code == 2 and "cannot be written" in err and "Traceback" not in err
    assert list(parent.iterdir()) == []


def test_an_export_that_drifts_is_refused_and_nothing_is_kept(finished_run, run_cli, tmp_path, monkeypatch):
    from hf_transfer.export import onnx as export

    monkeypatch.setattr(export, "OUTPUT_TOLERANCE", -1.0)  # no export can be this close: the refusal path, for real
    code, out, err = run_cli("export", finished_run("text-classification", "full"), "--output_dir", tmp_path / "o")
    assert code == 2 and "does not compute what the model computes" in err and "outputs differ by up to" in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.partial").exists()


def test_an_exporter_failure_names_the_model_and_what_failed(finished_run, run_cli, tmp_path, monkeypatch):
    import torch

    from hf_transfer.export import onnx_graph as export

    class DataDependent(export._Graph):
        def forward(self, *tensors):
            out = super().forward(*tensors)
            if out[0].sum() > 0:  # a branch on a value: torch.export cannot trace it
                return out
            return tuple(-o for o in out)

    monkeypatch.setattr(export, "_Graph", DataDependent)
    code, out, err = run_cli("export", finished_run("text-classification", "full"), "--output_dir", tmp_path / "o")
    assert code == 2 and "PyTorch's ONNX exporter cannot export BertForSequenceClassification (bert)" in err, err
    assert "Traceback" not in err and not (tmp_path / "o").exists() and not (tmp_path / "o.partial").exists()
    assert torch.is_grad_enabled()


def test_a_damaged_export_is_named_not_predicted_with(exported, run_cli, tmp_path):
    _, out = exported
    damaged = tmp_path / "damaged"
    shutil.copytree(out, damaged)
    model = damaged / "model_int8.onnx"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    code, text, err = run_cli("predict", damaged, "a fine film")
    assert code == 2 and "The export is damaged" in err and "model_int8.onnx" in err and "Traceback" not in err
    (damaged / "export.json").write_text("{not json")
    code, text, err = run_cli("predict", damaged, "a fine film")
    assert code == 2 and "export.json is damaged" in err


@pytest.fixture
def hub(monkeypatch):
    from huggingface_hub import constants

    from hub_server import FakeHub

    token = "hf_fake_test_token_1234567890"
    with FakeHub(token) as server:
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            server.url + "/{repo_id}/resolve/{revision}/{filename}")  # fmt: skip
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_TOKEN", token)
        yield server


def test_push_publishes_the_export_beside_the_model(exported, finished_run, hub, run_cli, tmp_path):
    from huggingface_hub import snapshot_download

    run, out = exported
    code, text, err = run_cli("push", out, "--hub_model_id", "tester/x")
    assert code == 2 and "push the run it was made from" in err and "--export" in err
    other = finished_run("text-classification", "lora")
    code, text, err = run_cli("push", other, "--hub_model_id", "tester/x", "--export", out)
    assert code == 2 and "push an export with the run it was made from" in err
    assert "tester/x" not in hub.repos, "nothing uploaded"

    code, text, err = run_cli("push", run, "--hub_model_id", "tester/tiny-onnx", "--export", out)
    assert code == 0, err
    files = set(hub.repos["tester/tiny-onnx"]["files"])
    assert {"model.safetensors", "README.md", "onnx/model.onnx", "onnx/model_int8.onnx", "onnx/export.json",
            "onnx/README.md", "onnx/tokenizer.json", "onnx/config.json"} <= files  # fmt: skip
    local = snapshot_download("tester/tiny-onnx", cache_dir=tmp_path / "cache")
    record = json.loads((tmp_path / "cache").rglob("export.json").__next__().read_text())
    assert record["source_run"] == "tester/tiny-onnx", "no local path of the run"
    code, on_hub, err = run_cli("predict", f"{local}/onnx", "a great film")
    code2, here, _ = run_cli("predict", out, "a great film")
    assert code == code2 == 0 and on_hub == here, err


def test_a_partial_folder_someone_else_made_is_left_alone(finished_run, run_cli, tmp_path):
    theirs = tmp_path / "o.partial"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    code, out, err = run_cli("export", finished_run("text-classification", "full"), "--output_dir", tmp_path / "o")
    assert code == 2 and "was not left by an export" in err
    assert (theirs / "notes.txt").read_text() == "mine" and not (tmp_path / "o").exists()


def test_what_a_killed_export_left_is_started_over(finished_run, run_cli, tmp_path):
    from hf_transfer.export.onnx import STAGING_MARK

    left = tmp_path / "o.partial"
    left.mkdir()
    (left / STAGING_MARK).touch()
    (left / "model.onnx").write_bytes(b"cut short")
    code, out, err = run_cli("export", finished_run("text-classification", "full"), "--output_dir", tmp_path / "o")
    assert code == 0, err
    assert not left.exists() and not (tmp_path / "o" / STAGING_MARK).exists()
    assert json.loads((tmp_path / "o" / "export.json").read_text())["verification"]["changed_predictions"] == 0


def test_the_cards_code_is_valid_python_whatever_the_folder_name(exported):
    import re

    from hf_transfer.artifacts.runs import RunFolder
    from hf_transfer.export.onnx_card import export_card

    run, out = exported
    record = json.loads((out / "export.json").read_text())
    card = export_card(record, RunFolder(run).recipe(), 'my "best" export\\')
    [code] = re.findall(r"```python\n(.*?)```", card, re.S)
    compile(code, "card", "exec")  # a quote or backslash in the name does not break the snippet


def test_the_gate_reads_rows_and_the_metric_on_its_own_scale():
    """One changed row of 400 is within the share allowed (the old 0.1-point gate refused it); a percentage metric's
    tolerance is in its own points; outputs far apart are refused even when no prediction changes."""
    from hf_transfer.export.onnx import verify
    from hf_transfer.tasks.classification import TextClassification
    from hf_transfer.tasks.question_answering import QuestionAnswering

    close = {"max_difference": 3.4e-4, "scale": 5.0, "changed_predictions": 1, "predictions": 400}
    ok = verify(TextClassification(), "eval_accuracy", {"eval_accuracy": 0.80}, {"eval_accuracy": 0.8025}, close)
    assert ok["refused"] == "" and ok["changed_allowed"] == 4
    qa = verify(QuestionAnswering(), "eval_f1", {"eval_f1": 80.0}, {"eval_f1": 80.4}, close)
    assert qa["refused"] == "" and qa["drift_points"] == pytest.approx(0.4)
    far = dict(close, max_difference=0.5, changed_predictions=0)
    assert "outputs differ by up to 0.5" in verify(TextClassification(), "eval_accuracy", {"eval_accuracy": 0.8},
                                                   {"eval_accuracy": 0.8}, far)["refused"]  # fmt: skip
    many = dict(close, changed_predictions=9)
    assert "9 of 400 predictions changed" in verify(TextClassification(), "eval_accuracy", {"eval_accuracy": 0.8},
                                                    {"eval_accuracy": 0.8}, many)["refused"]  # fmt: skip
