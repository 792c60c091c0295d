"""The Trainer of instruction tuning, whose loss runs the LM head only at the response tokens (see below)."""

from __future__ import annotations

import functools

from hf_transfer.tasks import IGNORE_INDEX


@functools.cache
def response_loss_trainer():
    """The Trainer of instruction tuning: its loss runs the LM head only where a label is (the response
    tokens), and its evaluation loss is the mean over all response tokens of the eval set.

    A plain Trainer computes full-vocabulary logits at every position, prompt and padding included (about
    half the positions of an Alpaca batch), only for the loss to ignore them; and it averages the eval loss
    over batches, so the same model scores differently with another batch size or order. The head here gets
    only the hidden states at labelled positions (a pre-hook on the model's output embeddings), so what the
    model does after its head (soft-capping, scaling) still applies; the loss and its gradients are those of
    the model's own loss. Where that does not hold or cannot work (a mixture-of-experts model's router loss,
    Liger kernels, torch.compile, nn.DataParallel, predictions that want every logit), it is the Trainer's own."""
    import torch
    from transformers import Trainer

    class ResponseLossTrainer(Trainer):
        _response_loss: list | None = None  # [sum of token losses, tokens] of a loss-only evaluation under way

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            unwrapped = self.accelerator.unwrap_model(model)
            head = unwrapped.get_output_embeddings()
            if (
                head is None
                or "labels" not in inputs
                or self.label_smoother is not None
                or self.compute_loss_func is not None
                or self.args.n_gpu > 1  # nn.DataParallel splits the batch the mask is made for
                or self.args.use_liger_kernel  # its fused loss needs the labels, and skips the logits itself
                or self.args.torch_compile  # a data-dependent mask and a hook per step would recompile
                or getattr(unwrapped.config, "output_router_logits", False)  # MoE: the model adds its router loss
                or (return_outputs and self._response_loss is None)  # predictions: the caller wants every logit
            ):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            inputs = dict(inputs)
            labels = inputs.pop("labels")
            targets = inputs.pop("shift_labels", None)  # padding-free collators shift the labels themselves
            if targets is None:
                targets = torch.full_like(labels, IGNORE_INDEX)
                targets[..., :-1] = labels[..., 1:]  # the hidden state at t predicts the token at t + 1
            keep = targets != IGNORE_INDEX
            hook = head.register_forward_pre_hook(lambda module, args: (args[0][keep], *args[1:]))
            try:
                outputs = model(**inputs)
            finally:
                hook.remove()
            losses = torch.nn.functional.cross_entropy(outputs.logits.float(), targets[keep], reduction="none")
            total = losses.sum()
            if self._response_loss is not None:  # per row, so that rows repeated to even out processes drop out
                rows = torch.zeros(keep.shape[0], 2, device=losses.device)
                rows[:, 0].index_add_(0, keep.nonzero()[:, 0], losses.detach())
                rows[:, 1] = keep.sum(dim=-1)
                rows = self.gather_function(rows) if self.accelerator.num_processes > 1 else rows
                self._response_loss[0] += float(rows[:, 0].sum())
                self._response_loss[1] += float(rows[:, 1].sum())
            if self.model_accepts_loss_kwargs and num_items_in_batch is not None:
                # normalised over the whole (accumulated, and with this flag cross-device) batch, as the model's
                # own loss would be: the Trainer then neither divides by the accumulation steps nor by devices
                loss = total / num_items_in_batch
                if self.args.average_tokens_across_devices:
                    loss = loss * (self.accelerator.num_processes // self.get_tp_size())
            else:
                loss = total / keep.sum().clamp(min=1)
            return (loss, outputs) if return_outputs else loss

        def evaluation_loop(self, dataloader, description, prediction_loss_only=None, ignore_keys=None,
                            metric_key_prefix="eval"):  # fmt: skip
            loss_only = self.args.prediction_loss_only if prediction_loss_only is None else prediction_loss_only
            self._response_loss = [0.0, 0] if loss_only else None
            if self._response_loss is None:
                return super().evaluation_loop(
                    dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix
                )
            try:
                output = super().evaluation_loop(
                    dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix
                )
                summed, tokens = self._response_loss  # over every process's rows (gathered per batch)
            finally:
                self._response_loss = None
            key = f"{metric_key_prefix}_loss"
            if key in output.metrics and tokens > 0:
                output.metrics[key] = summed / tokens
            return output

    return ResponseLossTrainer
