"""One real learning curve and what doubling its data would add, with the interval before and after issue 35
(Rotten Tomatoes recipe on the packaged MiniLM, ``hf-transfer compare --fractions``).

    python benchmarks/bench_curve.py [--fractions 0.125,0.25,0.5,1] [--seeds 1] [--methods full]

"Before" is the interval 8fca0d3 printed from the same fit: a 95% *prediction* interval of the error at 2n (the
level, with a new-observation term), read as the gain's; "after" is what ``compare`` prints now, the interval of the
gain from the fit's coefficient covariance (``stats.CurveFit.gain_from_doubling``). Writes
benchmarks/results/curve.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from bench_e2e import machine  # noqa: E402

from hf_transfer.base.stats import CONFIDENCE, fit_power_law  # noqa: E402


def interval_before(fit, n: float, scale: float) -> float:
    """8fca0d3's half width: the prediction interval of log error at 2n, carried to the metric by the delta method."""
    from scipy import stats

    leverage = 1 + 1 / fit.points + (math.log(2 * n) - fit.mean_log_n) ** 2 / fit.spread_log_n
    spread = fit.residual_sd * math.sqrt(leverage)
    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, fit.points - 2) * spread * fit.error(2 * n) * scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fractions", default="0.125,0.25,0.5,1")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--methods", default="full")
    parser.add_argument("--output", default=str(HERE / "results" / "curve"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "compare"
        command = ["hf-transfer", "compare", "rotten-tomatoes-minilm", "--methods", args.methods, "--fractions",
                   args.fractions, "--seeds", str(args.seeds), "--output_dir", str(out)]  # fmt: skip
        env = {**os.environ, "HF_TRANSFER_CACHE": str(Path(work) / "cache")}
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        report = json.loads((out / "report.json").read_text())
    rows = []
    for method, curve in report["curves"].items():
        ns, metric = curve["examples"], curve["metric"]
        fit = fit_power_law(ns, metric)
        gain, after = fit.gain_from_doubling(ns[-1], 100.0)
        before = interval_before(fit, ns[-1], 100.0) if fit.residual_sd is not None else None
        check = curve.get("check", {}).get("text")
        rows.append({"method": method, "examples": ns, "metric": metric, "gain": gain, "before": before,
                     "after": after, "reported": curve.get("doubling"), "check": check})  # fmt: skip
    info = machine()
    lines = [
        "# What doubling the data would add: one real curve, the interval before and after",
        "",
        f"CPU: {info['cpu']} ({info['cores']} cores; {', '.join(info['instruction_sets'])}), OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')}; `hf-transfer compare rotten-tomatoes-minilm --methods "
        f"{args.methods} --fractions {args.fractions} --seeds {args.seeds}` (the recipe's 6,000 training rows, its "
        "1,281 evaluation rows).",
        "",
        "| method | examples | accuracy | doubling adds | before (8fca0d3): ± | after: ± |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {', '.join(f'{n:,}' for n in r['examples'])} | "
            f"{', '.join(f'{m:.4f}' for m in r['metric'])} | {r['gain']:.2f} points | "
            f"{r['before']:.2f} | {r['after']:.2f} |"
        )
    lines += ["", "What compare printed:", ""] + [f"- {r['method']}: {r['reported']}; {r['check']}" for r in rows]
    lines += ["", "Regenerate: `python benchmarks/bench_curve.py`."]
    Path(args.output + ".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    Path(args.output + ".json").write_text(json.dumps({"settings": vars(args), "machine": info, "rows": rows},
                                                      indent=2), encoding="utf-8")  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    main()
