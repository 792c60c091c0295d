"""One ``hf-transfer run``: what must hold before anything trains (a test file that can be predicted, a Hub
id and a token for ``--push_to_hub``), the run itself (``train.run``), then what the flags asked for once
the run folder is finished: predictions for ``--test_file``, the merged model, the push."""

from __future__ import annotations

from pathlib import Path

from hf_transfer.recipe.recipe import Recipe
from hf_transfer.run.options import RunOptions


def check_before_training(recipe: Recipe, options: RunOptions) -> None:
    """Everything a follow-up needs, checked before the run, so a run does not train for nothing."""
    if options.test_file is not None:
        from hf_transfer.commands.predict import check_predictable

        check_predictable(recipe, options.test_file)
    if options.push_to_hub:
        from hf_transfer.commands.hub import check_push_ready

        check_push_ready(options.hub_model_id)


def run_with_follow_ups(recipe: Recipe, options: RunOptions, console) -> dict:
    """Train ``recipe`` as ``options`` say, then the follow-ups; returns the run's metrics.json contents."""
    from hf_transfer.base.hardware import is_main_process
    from hf_transfer.run import train

    check_before_training(recipe, options)
    say = console.say
    metrics = train.run(recipe, options, console)
    if not is_main_process():  # several processes (accelerate launch / torchrun): rank 0 reports
        return metrics
    folder = Path(metrics["output_dir"])
    if options.test_file is not None:
        from hf_transfer.commands.predict import predict_file

        summary = predict_file(folder, options.test_file, None, log=say, trust_remote_code=options.trust_remote_code)
        say(f"Predictions for {options.test_file.name} ({summary['predicted']:,} rows): {summary['output_file']}")
    if options.merge_adapter:
        from hf_transfer.artifacts.merging import merge_run

        say(f"Merged model: {merge_run(folder, trust_remote_code=options.trust_remote_code)}")
    if options.push_to_hub:
        from hf_transfer.commands.hub import push

        say(f"Pushed: {push(folder, options.hub_model_id, private=options.hub_private_repo)}")
    return metrics
