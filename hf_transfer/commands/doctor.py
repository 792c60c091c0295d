"""``hf-transfer doctor``: what this machine offers and what hf_transfer will do with it.

Fast (no model is loaded), never prints a token, exit 0. ``--json`` for bug reports.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from pathlib import Path

CLASHING_DISTRIBUTION = "hf_transfer"
"""Hugging Face's download accelerator (``pip install hf-transfer``): its compiled module is also named hf_transfer."""


def name_clash() -> str | None:
    """A sentence when Hugging Face's ``hf-transfer`` distribution is installed next to this one."""
    try:
        other = metadata.distribution(CLASHING_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    if other.metadata.get("Name", "").lower().replace("_", "-") == "hf-transfer-toolkit":
        return None
    return (
        f"Hugging Face's download accelerator 'hf-transfer' {other.version} is installed too. It installs a module "
        "also named hf_transfer, so one package overwrote the other's files. Fix: pip uninstall -y hf-transfer "
        "hf-transfer-toolkit && pip install hf-transfer-toolkit (and unset HF_HUB_ENABLE_HF_TRANSFER, which needs "
        "the other package); huggingface_hub downloads without it."
    )


def _versions() -> dict[str, str | None]:
    from hf_transfer.base.hardware import versions

    return {"python": platform.python_version(), **versions(include_missing=True)}


def cpu_flags() -> list[str]:
    """The CPU instruction sets that decide precision and speed here."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    wanted = {
        "avx2": "AVX2",
        "avx512f": "AVX512F",
        "avx512_bf16": "AVX512-BF16",
        "amx_bf16": "AMX-BF16",
        "amx_tile": "AMX",
    }
    return [label for flag, label in wanted.items() if flag in flags]


def cpu_name() -> str:
    """The CPU model as /proc/cpuinfo names it (benchmarks write it beside their numbers)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _nvidia_gpus() -> list[dict]:
    """CUDA devices as nvidia-smi sees them (without importing torch)."""
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,compute_cap", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            try:
                gpus.append(
                    {"name": parts[0], "memory_gib": round(float(parts[1]) / 1024, 1), "compute": float(parts[2])}
                )
            except ValueError:
                continue
    return gpus


def _device() -> dict:
    """The device a run trains on and the precision the defaults pick (hf_transfer.run.train.device_defaults),
    read from nvidia-smi and /proc/cpuinfo: no torch import, so doctor stays fast."""
    import os

    torch_version = _versions().get("torch") or ""
    gpus = _nvidia_gpus() if "+cpu" not in torch_version else []
    if gpus:
        bf16 = gpus[0]["compute"] >= 8.0  # Ampere and newer
        return {
            "kind": "cuda",
            "name": gpus[0]["name"],
            "memory_gib": gpus[0]["memory_gib"],
            "count": len(gpus),
            "precision": "bf16" if bf16 else "fp16",
            "why": "the GPU computes bf16 (compute capability 8.0+)"
            if bf16
            else "the GPU has no bf16: fp16 mixed precision",
        }
    from hf_transfer.base.hardware import CPU_BF16_VARIABLE, forced_cpu_bf16

    sets = cpu_flags()
    forced = forced_cpu_bf16()
    native = ("AVX512-BF16" in sets or "AMX" in sets) if forced is None else forced
    return {
        "kind": "cpu",
        "name": cpu_name(),
        "cores": os.cpu_count(),
        "instruction_sets": sets,
        "torch_build": torch_version or "not installed",
        "precision": "bf16 autocast" if native else "fp32",
        "why": (
            f"{CPU_BF16_VARIABLE}={os.environ[CPU_BF16_VARIABLE]} says so"
            if forced is not None
            else "this CPU computes bf16 natively (AVX512-BF16 / AMX); --bf16 false turns it off"
            if native
            else "this CPU has no native bf16 (emulated bf16 would be slower than fp32)"
        ),
    }


def _hub() -> dict:
    import os

    from huggingface_hub import get_token

    from hf_transfer.sources.assets import hub_offline, hub_reachable

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    return {
        "endpoint": endpoint,
        "offline_mode": hub_offline(),
        "reachable": hub_reachable(timeout=2.0),
        "token_configured": get_token() is not None,  # whether one is set; the token itself is never shown
    }


def _assets() -> dict[str, str]:
    from hf_transfer.base.errors import UserError
    from hf_transfer.sources.assets import DATASETS, MODELS

    out = {}
    for name, packaged in [(k, v) for k, v in MODELS.items()] + [(k, v.source) for k, v in DATASETS.items()]:
        try:
            packaged.locate()
            out[name] = f"installed ({packaged.distribution})"
        except UserError:
            out[name] = f"missing: {packaged.install}"
    return out


def _cache() -> dict:
    from hf_transfer.data.cache import entries, human, leftovers, tokenization_cache_dir, total_bytes

    folder = tokenization_cache_dir(create=False)
    size = total_bytes(folder)
    return {
        "path": str(folder),
        "entries": len(entries(folder)),
        "unfinished_writes": len(leftovers(folder)),
        "bytes": size,
        "size": human(size),
    }


def show_hardware() -> dict:
    """Print the device and the precision hf_transfer's defaults pick on it (the notebooks' hardware cell).
    Returns the TrainingArguments to add: none, since the defaults already pick it."""
    device = _device()
    where = (
        f"GPU: {device['name']} ({device['memory_gib']} GiB)"
        if device["kind"] == "cuda"
        else f"CPU: {device['name']} ({', '.join(device['instruction_sets']) or 'no AVX2'})"
    )
    print(f"{where} -> {device['precision']}: {device['why']}")
    if device["kind"] == "cpu":
        print("Training on a CPU is slow: keep the sample sizes small.")
    return {}


def report() -> dict:
    return {
        "versions": _versions(),
        "platform": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "device": _device(),
        "hub": _hub(),
        "offline_assets": _assets(),
        "tokenization_cache": _cache(),
        "problems": [p for p in (name_clash(),) if p],
    }


def render(data: dict) -> str:
    v, d, h, c = data["versions"], data["device"], data["hub"], data["tokenization_cache"]
    lines = ["hf-transfer doctor", ""]
    lines.append("versions:  " + ", ".join(f"{k} {val or 'not installed'}" for k, val in v.items()))
    lines.append(f"platform:  {data['platform']}")
    if d["kind"] == "cuda":
        lines.append(f"device:    CUDA {d['name']} ({d['memory_gib']} GiB) x{d['count']}")
    else:
        sets = ", ".join(d["instruction_sets"]) or "none of AVX2 / AVX512 / AMX"
        lines.append(f"device:    CPU {d['name']}, {d['cores']} cores; instruction sets: {sets}")
    lines.append(f"precision: {d['precision']} by default ({d['why']})")
    hub = "offline mode (HF_HUB_OFFLINE)" if h["offline_mode"] else ("reachable" if h["reachable"] else "NOT reachable")
    lines.append(
        f"hub:       {h['endpoint']} {hub}; token {'configured' if h['token_configured'] else 'not configured'}"
    )
    lines.append("assets:    " + "; ".join(f"{k}: {val}" for k, val in data["offline_assets"].items()))
    lines.append(
        f"cache:     {c['path']}: {c['entries']} tokenized splits, {c['size']}"
        + (f", {c['unfinished_writes']} unfinished writes" if c["unfinished_writes"] else "")
        + " (hf-transfer cache clear)"
    )
    for problem in data["problems"]:
        lines.append(f"PROBLEM:   {problem}")
    return "\n".join(lines)


def main(as_json: bool = False) -> None:
    data = report()
    print(json.dumps(data, indent=2) if as_json else render(data))
    sys.stdout.flush()
