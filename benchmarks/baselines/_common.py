"""What every baseline script shares: the command-line flags bench_e2e.py passes, the TrainingArguments of a
plain Trainer with the example scripts' best flags for the hardware (length-grouped batches, --bf16 where
native, no evaluation or checkpoint during training), and the timed train / evaluate / save with the line
bench_e2e.py reads. The task-specific part (data, tokenization, model class, metric) stays in each script.
"""

from __future__ import annotations

import argparse
import json
import time

from transformers import TrainingArguments


def arguments(max_seq_length: int, train_batch: int = 32, eval_batch: int = 128) -> argparse.ArgumentParser:
    """The flags bench_e2e.py gives both sides; a script adds its own before ``parse_args()``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_name_or_path", required=True)
    parser.add_argument("--train_file", required=True)
    parser.add_argument("--validation_file", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--max_seq_length", type=int, default=max_seq_length)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--num_train_epochs", type=float, default=1)
    parser.add_argument("--per_device_train_batch_size", type=int, default=train_batch)
    parser.add_argument("--per_device_eval_batch_size", type=int, default=eval_batch)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--eval_each_epoch", action="store_true", help="evaluate after every epoch, timed")
    return parser


class EvalTimes(list):
    """(seconds since the process started, the metrics) of every evaluation during training: what time-to-quality
    reads (bench_quality.py). The process's own start, so imports count as they do for the user."""

    def callback(self):
        import psutil
        from transformers import TrainerCallback

        started = psutil.Process().create_time()
        times = self

        class Timed(TrainerCallback):
            training = True

            def on_evaluate(self, args, state, control, metrics=None, **kwargs):
                if self.training:  # the script's own evaluation after training is timed as a phase
                    times.append({"seconds": time.time() - started, "epoch": state.epoch, **(metrics or {})})

            def on_train_end(self, args, state, control, **kwargs):
                self.training = False

        return Timed()

    def epoch_callback(self, evaluate):
        """After every epoch, ``evaluate()`` (a script's own evaluation, outside the Trainer's: run_qa's
        post-processing), timed from the process's start like ``callback``'s; its keys get the ``eval_`` prefix."""
        import psutil
        from transformers import TrainerCallback

        started = psutil.Process().create_time()
        times = self

        class TimedEpoch(TrainerCallback):
            def on_epoch_end(self, args, state, control, **kwargs):
                metrics = {f"eval_{k}": v for k, v in evaluate().items()}
                times.append({"seconds": time.time() - started, "epoch": state.epoch, **metrics})

        return TimedEpoch()


def training_arguments(args, kind: type = TrainingArguments, trainer_evaluates: bool = True, **extra):
    """The shared TrainingArguments; ``kind`` and ``extra`` for a task's own (Seq2SeqTrainingArguments, TRL's
    SFTConfig, ...; ``extra`` may also replace a shared value). ``trainer_evaluates=False``: --eval_each_epoch is
    the script's own evaluation (``EvalTimes.epoch_callback``), not the Trainer's."""
    shared = {
        "output_dir": args.output_dir,
        "learning_rate": args.learning_rate,
        "num_train_epochs": args.num_train_epochs,
        "per_device_train_batch_size": args.per_device_train_batch_size,
        "per_device_eval_batch_size": args.per_device_eval_batch_size,
        "train_sampling_strategy": "group_by_length",
        "eval_strategy": "epoch" if trainer_evaluates and getattr(args, "eval_each_epoch", False) else "no",
        "save_strategy": "no",
        "report_to": "none",
        "bf16": args.bf16,
        "use_cpu": True,
        "dataloader_pin_memory": False,
        "seed": args.seed,
        "logging_steps": 10,
    }
    return kind(**{**shared, **extra})


class Phases(dict):
    """Seconds per phase; ``with phases("train"): ...`` times one."""

    def __call__(self, name: str):
        phases = self

        class Timed:
            def __enter__(self):
                self.started = time.perf_counter()

            def __exit__(self, *exc):
                phases[name] = time.perf_counter() - self.started

        return Timed()


def train_evaluate_save(trainer, phases: Phases, output_dir: str, evaluate=None) -> dict:
    """Train, evaluate once (``evaluate()``, by default the Trainer's), save; returns the evaluation's metrics."""
    with phases("train"):
        trainer.train()
    with phases("evaluate"):
        metrics = evaluate() if evaluate is not None else trainer.evaluate()
    with phases("save"):
        trainer.save_model(output_dir)
    return metrics


EVALUATIONS = EvalTimes()


def report(phases: Phases, **results) -> None:
    """The one line bench_e2e.py reads from the baseline's output."""
    print("BASELINE " + json.dumps({"phases": phases, "evaluations": EVALUATIONS, **results}))


def add_causal_lm_flags(parser: argparse.ArgumentParser) -> None:
    """The instruction-tuning baselines' checkpoint and LoRA flags (the same defaults in both)."""
    parser.add_argument("--gguf_file")
    parser.add_argument("--lora_r", type=int, default=16)
    parser.add_argument("--lora_alpha", type=int, default=32)
    parser.add_argument("--lora_dropout", type=float, default=0.05)


def causal_lm(args):
    """The causal LM as both instruction-tuning baselines load it. A GGUF checkpoint is dequantized by transformers
    to float weights but stays marked as quantized, which the Trainer refuses: like any script that trains one,
    this clears the mark."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(args.model_name_or_path, **gguf_kwargs(args))
    if args.gguf_file:
        model.is_quantized, model.hf_quantizer = False, None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    return model


def gguf_kwargs(args) -> dict:
    return {"gguf_file": args.gguf_file} if args.gguf_file else {}


def lora_config(args):
    from peft import LoraConfig

    return LoraConfig(task_type="CAUSAL_LM", r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout)
