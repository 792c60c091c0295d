"""One loss definition for both sides of ``bench_quality.py --task sft``: a LoRA adapter saved by any trainer (TRL's
``SFTTrainer`` checkpoints) scored by hf_transfer's own evaluation path (``run.evaluation.evaluate_model``: the
alpaca-smollm2 recipe's tokenization of the evaluation file, its response-token mean loss), on the base model
hf_transfer trains (the packaged SmolLM2 GGUF, dequantized once).

    python benchmarks/_quality_sft.py VALIDATION.json [--bf16] [--checkpoint BASE] ADAPTER...  # {"ADAPTER": loss}
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RECIPE = "alpaca-smollm2"


def score_adapters(adapters: list[str], validation_file: str, bf16: bool, checkpoint: str | None = None) -> dict:
    """{adapter folder: hf_transfer's eval loss of base + that adapter on ``validation_file``}; ``checkpoint``: another
    base than the recipe's (the tests' tiny model)."""
    import dataclasses

    from peft import PeftModel

    from hf_transfer import load_recipe
    from hf_transfer.artifacts.gguf_checkpoint import plain_checkpoint
    from hf_transfer.artifacts.models import load_base_model, load_tokenizer
    from hf_transfer.base.console import quiet
    from hf_transfer.run.arguments import RUN_DEFAULTS
    from hf_transfer.run.evaluation import evaluate_model, evaluation_data
    from hf_transfer.sources.assets import resolve_checkpoint

    recipe = load_recipe(RECIPE)
    if checkpoint is not None:
        recipe = dataclasses.replace(recipe, checkpoint=checkpoint)
    scores = {}
    with quiet():
        base = plain_checkpoint(resolve_checkpoint(recipe.checkpoint))
        tokenizer = load_tokenizer(base, recipe)
        _, splits, _, tokenized = evaluation_data(recipe, tokenizer, Path(validation_file))
        for adapter in adapters:
            model = PeftModel.from_pretrained(load_base_model(recipe, base), adapter).eval()
            metrics = evaluate_model(
                model,
                tokenizer,
                recipe,
                splits["validation"],
                tokenized["validation"],
                RUN_DEFAULTS["per_device_eval_batch_size"],
                precision={"bf16": bf16, "use_cpu": True},
            )
            scores[adapter] = metrics["eval_loss"]
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("validation_file")
    parser.add_argument("adapters", nargs="+")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--checkpoint", help="another base model than the recipe's")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    print(json.dumps(score_adapters(args.adapters, args.validation_file, args.bf16, args.checkpoint)))


if __name__ == "__main__":
    main()
