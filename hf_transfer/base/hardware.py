"""What this machine computes with: the device and precision defaults, who is the main process, peak
memory while a block runs, and the versions a run records."""

from __future__ import annotations

import os
import time
from typing import Any

VERSIONED = (
    "hf-transfer-toolkit",
    "torch",
    "transformers",
    "datasets",
    "peft",
    "accelerate",
    "evaluate",
    "huggingface_hub",
)
"""The distributions a run records in metrics.json and ``hf-transfer doctor`` reports."""


CPU_BF16_VARIABLE = "HF_TRANSFER_CPU_BF16"
"""Set to 1 or 0, it says whether the CPU computes bf16 natively instead of asking the CPU: the test suite runs the
bf16-default path on CPUs without it (and the fp32 path on CPUs with it) this way."""


def forced_cpu_bf16() -> bool | None:
    """What ``HF_TRANSFER_CPU_BF16`` says of the CPU's bf16 (None: it is not set, ask the CPU)."""
    forced = os.environ.get(CPU_BF16_VARIABLE, "").strip().lower()
    if forced in ("1", "true", "yes", "0", "false", "no"):
        return forced in ("1", "true", "yes")
    return None


def cpu_computes_bf16() -> bool:
    """Whether this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX), where bf16 autocast pays:
    on the project's 2-core EPYC it trained MiniLM 2x faster with the same eval accuracy
    (benchmarks/results/train.md). Without it, bf16 is emulated and slower than fp32.
    ``HF_TRANSFER_CPU_BF16=1`` / ``0`` overrides what the CPU says."""
    import torch

    forced = forced_cpu_bf16()
    if forced is not None:
        return forced

    cpu = getattr(torch, "cpu", None)
    return any(getattr(cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def device_defaults() -> dict[str, Any]:
    """bf16 (else fp16) on a CUDA device that has it; on CPU, bf16 autocast where the CPU computes
    bf16 natively, else fp32; no pinned memory on CPU. ``--bf16 false`` turns autocast off."""
    import torch

    if torch.cuda.is_available():
        return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}
    # use_cpu also makes `accelerate launch` / `torchrun` processes train together (gloo) on CPUs
    return {"dataloader_pin_memory": False, "use_cpu": True, "bf16": cpu_computes_bf16()}


def precision_text(kwargs: dict) -> str:
    """``bf16 on CPU (2 threads)``: what a run computes in, and where."""
    import torch

    precision = "bf16" if kwargs.get("bf16") else "fp16" if kwargs.get("fp16") else "fp32"
    if torch.cuda.is_available() and not kwargs.get("use_cpu"):
        return f"{precision} on {torch.cuda.get_device_name(0)}"
    threads = torch.get_num_threads()
    return f"{precision} on CPU ({threads} thread{'s' if threads > 1 else ''})"


def is_main_process() -> bool:
    """Rank 0 of a multi-process launch (``accelerate launch`` / ``torchrun``), or the only process.
    Read from the environment, so it can be asked before anything sets up a process group."""
    return int(os.environ.get("RANK", "0")) == 0


def silent(*args, **kwargs) -> None:
    """What ranks other than 0 print: nothing; rank 0 speaks for the run."""


class PeakMemory:
    """Peak resident memory (and CUDA memory) while the block runs, sampled by a thread; exact where the block raised
    the process's high-water mark (a spike between two samples is then counted too)."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak_rss, self._stop = interval, 0, None

    @staticmethod
    def rss() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    @staticmethod
    def high_water() -> int:
        """The process's peak resident memory so far (Linux: VmHWM; elsewhere 0, and the samples alone count)."""
        try:
            with open("/proc/self/status") as f:
                return next((int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:")), 0)
        except OSError:
            return 0

    def _sample(self):
        while not self._stop.wait(self.interval):
            self.peak_rss = max(self.peak_rss, self.rss())

    def __enter__(self):
        import threading

        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self.peak_rss, self._high = self.rss(), self.high_water()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, self.rss())
        high = self.high_water()
        if high > self._high:  # the process's own high-water mark rose in the block: its exact peak
            self.peak_rss = max(self.peak_rss, high)

    def report(self) -> dict[str, int]:
        import torch

        out = {"peak_rss_bytes": self.peak_rss}
        if torch.cuda.is_available():
            out["peak_cuda_bytes"] = int(torch.cuda.max_memory_allocated())
        return out


class SettledHeap:
    """The garbage collector told to leave alone what a run has made so far (``settle()``: ``gc.freeze``), so that its
    full collections (the Trainer's before training, ours once the training state is let go, and those that
    allocation counts trigger while libraries import) walk only what was made since. Imported modules, the data and
    the model are hundreds of thousands of objects: collections took ~0.7 s of a 16 s run here, ~0.35 s settled.
    Reference counting still frees everything as before; only cycles made before a ``settle()`` wait for the end of
    the block, which hands every object back to the collector (``gc.unfreeze``). A process whose own code froze
    objects before is left as it is: nothing is settled or handed back."""

    def __enter__(self) -> SettledHeap:
        import gc

        self.active = gc.get_freeze_count() == 0
        return self

    def settle(self) -> None:
        import gc

        if self.active:
            gc.freeze()

    def __exit__(self, *exc) -> None:
        import gc

        if self.active:
            gc.unfreeze()


def give_back_memory() -> None:
    """Freed memory returned to the system: the garbage collected, and the C allocator's free pages released (glibc
    keeps what a process freed in its heap: after training steps of many shapes, hundreds of MiB)."""
    import contextlib
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc (macOS, musl): nothing to release by hand
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def versions(include_missing: bool = False, extra: tuple[str, ...] = ()) -> dict[str, str | None]:
    """Installed versions of ``VERSIONED`` and ``extra`` (a missing one left out, or None with ``include_missing``)."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for dist in VERSIONED + tuple(extra):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            if include_missing:
                out[dist] = None
    return out


class PhaseClock:
    """Wall-clock seconds per phase of a run (metrics.json "phases"), for benchmarks and bug reports."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._last, 3)
        self._last = now


def check_distributed(state, output_dir) -> None:
    """A launch that asked for several processes (WORLD_SIZE in the environment) but trains in one alone: N copies
    of the run would race for one output folder. Refused at once, with what happened."""
    from hf_transfer.base.errors import UserError

    asked = int(os.environ.get("WORLD_SIZE", "1") or 1)
    kind = str(state.distributed_type).rsplit(".", 1)[-1]
    if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true" and kind != "FSDP":
        raise UserError(
            f"accelerate launch --use_fsdp, but accelerate runs these processes as {kind}, not FSDP: accelerate "
            "(1.15) enables FSDP only on accelerators (GPUs and the like), never on CPU processes, and the weights it "
            "loads lazily for FSDP would be empty on every rank but 0. On CPUs, use DDP: accelerate launch "
            "--config_file configs/accelerate/multi_process_cpu.yaml; on GPUs, configs/accelerate/fsdp.yaml."
        )
    if "ACCELERATE_USE_CPU" in os.environ and "MASTER_ADDR" in os.environ and state.num_processes == 1:
        raise UserError(
            "accelerate launch --cpu with several machines starts one plain process per machine (accelerate's simple "
            f"launcher: no process group), so each would train alone and race for {output_dir}. To train on several "
            "CPU machines (or machine ranks on one host), launch with --multi_gpu --num_machines N --machine_rank R "
            "--main_process_ip IP: on CPUs that trains over gloo."
        )
    if asked > 1 and state.num_processes == 1:
        raise UserError(
            f"This process was launched as one of {asked} (WORLD_SIZE={asked}), but it trains alone (accelerate "
            f"sets it up as {kind}): {asked} copies of this run would train side by side and race for {output_dir}. "
            "Launch CPU processes with accelerate launch --config_file configs/accelerate/multi_process_cpu.yaml "
            "(or torchrun), GPUs with --multi_gpu; accelerate's FSDP does not run on CPU processes."
        )
