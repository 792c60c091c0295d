"""``hf-transfer export RUN_DIR [--format onnx] [--quantize int8] [--output_dir D]``: a finished run as a verified
ONNX model (``export.py``)."""

from __future__ import annotations

from hf_transfer.cli.flags import add_trust_flag


def add_parser(sub) -> None:
    ex = sub.add_parser("export", help="export a finished run to ONNX (encoders) or GGUF (instruction-tuned causal "
                        "LMs, for llama.cpp and Ollama), verified on its evaluation data")
    ex.add_argument("run_dir")
    ex.add_argument("--format", default="onnx", help="onnx (encoders) or gguf (Llama-family and Qwen2 causal LMs)")
    ex.add_argument("--quantize", help="onnx: int8 (also write a dynamically quantized model, and predict with it); "
                    "gguf: f16 (default), q8_0 or q4_0")  # fmt: skip
    ex.add_argument("--output_dir", help="default: <run_dir>-<format> beside the run")
    ex.add_argument("--overwrite_output_dir", action="store_true", help="replace an earlier export (once the new one "
                    "is verified)")  # fmt: skip
    ex.add_argument("--validation_file", help="verify on this labelled file instead of the run's evaluation data")
    ex.add_argument("--max_eval_samples", type=int, help="verify on the first N evaluation rows")
    ex.add_argument("--per_device_eval_batch_size", type=int, default=64)
    add_trust_flag(ex)


def run(args, extra, argv) -> None:
    from pathlib import Path

    from hf_transfer.base.errors import UserError
    from hf_transfer.export.onnx import export_run

    if args.max_eval_samples is not None and args.max_eval_samples < 1:
        raise UserError(f"--max_eval_samples must be 1 or more, got {args.max_eval_samples}.")
    record = export_run(
        Path(args.run_dir),
        Path(args.output_dir) if args.output_dir else None,
        fmt=args.format,
        quantize=args.quantize,
        overwrite=args.overwrite_output_dir,
        validation_file=Path(args.validation_file) if args.validation_file else None,
        max_eval_samples=args.max_eval_samples,
        batch_size=args.per_device_eval_batch_size,
        trust_remote_code=args.trust_remote_code,
    )
    if record["format"] == "gguf":
        from hf_transfer.export.gguf import summary

        print("\n".join(summary(record)))
        return
    v = record["verification"]
    metric = v["metric"].removeprefix("eval_")
    print(f"Verified on {v['samples']:,} rows of {v['evaluated_on']}: {metric} {v['onnx_fp32']:.4f} (ONNX fp32) vs "
          f"{v['pytorch_fp32']:.4f} (PyTorch fp32), {v['drift_points']:.3f} points apart")  # fmt: skip
    if "onnx_int8" in v:
        print(f"int8: {metric} {v['onnx_int8']:.4f} ({v['int8_change_points']:+.2f} points)")
    print(f"Export: {record['output_dir']} (predict with {record['predict_with']})")
