"""One training step of the SDA-QEC model: quantum head vs classical Dense(256->2) head.

A step is what ``qsdaqec fit`` does per batch in stage 1: forward through MobileNetV2 ->
pool -> Linear(1280->256)+ReLU -> head, class-weighted cross-entropy, backward (through the
head into the backbone), Adam step with the backbone and head parameter groups. Both models
are built with the same seed and see the same batch (``--batch-size`` random grayscale images
at ``--image-size``, default: ``FitConfig``'s). The steps are timed interleaved (quantum,
dense, quantum, dense, ...) so that load on a shared machine hits both alike; the table shows
the best and the median of ``--repeats`` steps and the ratio quantum / dense.

Target (issue 4): the quantum head adds <= 10 % to a training step over the dense head.

    python bench/bench_train_step.py                         # batch 32, default image size
    python bench/bench_train_step.py --encoding angle --repeats 30 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from qsdaqec.train import FitConfig  # noqa: E402


def make_step(head: str, encoding: str, x: torch.Tensor, y: torch.Tensor, seed: int):
    """A closure running one optimizer step of the SDA-QEC model with ``head``."""
    from qsdaqec.train.model import build_network

    torch.manual_seed(seed)
    model, _, _ = build_network(FitConfig(head=head, encoding=encoding), "none")
    cfg = FitConfig()
    head_ids = {id(p) for p in model.head.parameters()}
    groups = [
        {"params": [p for p in model.parameters() if id(p) not in head_ids], "lr": cfg.lr},
        {"params": list(model.head.parameters()), "lr": cfg.head_lr},
    ]
    opt = torch.optim.Adam(groups, weight_decay=cfg.weight_decay)
    crit = nn.CrossEntropyLoss(weight=torch.tensor([0.85, 1.21]))
    model.train()

    def step() -> float:
        loss = crit(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    n_head = sum(p.numel() for p in model.head.parameters())
    n_all = sum(p.numel() for p in model.parameters())
    return step, n_head, n_all


def main(argv: list[str] | None = None) -> int:
    defaults = FitConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=defaults.batch_size)
    ap.add_argument("--image-size", type=int, default=defaults.image_size)
    ap.add_argument("--encoding", choices=("amplitude", "angle"), default=defaults.encoding)
    ap.add_argument("--repeats", type=int, default=15, help="timed steps per head (interleaved)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    g = torch.Generator().manual_seed(args.seed)
    x = torch.rand(args.batch_size, 1, args.image_size, args.image_size, generator=g)
    y = torch.randint(0, 2, (args.batch_size,), generator=g)
    steps = {}
    sizes = {}
    for head in ("quantum", "classical"):
        fn, n_head, n_all = make_step(head, args.encoding, x, y, args.seed)
        steps[head], sizes[head] = fn, (n_head, n_all)

    for fn in steps.values():
        for _ in range(args.warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in steps}
    cpu: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(args.repeats):
        for k, fn in steps.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            times[k].append(time.perf_counter() - t)
            cpu[k].append(time.process_time() - c)

    best = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    best_cpu = {k: min(v) for k, v in cpu.items()}
    print(
        f"SDA-QEC training step (fwd + bwd + Adam), batch {args.batch_size}, "
        f"{args.image_size}x{args.image_size}, {args.encoding} encoding, "
        f"{torch.get_num_threads()} torch thread(s), {args.repeats} interleaved steps each"
    )
    print(
        f"{'head':<22} {'head params':>11} {'all params':>11} {'best ms':>9} {'median ms':>10} "
        f"{'best CPU ms':>11}"
    )
    names = {"quantum": "quantum (fast exact)", "classical": "dense Linear(256->2)"}
    for k in steps:
        print(
            f"{names[k]:<22} {sizes[k][0]:>11,} {sizes[k][1]:>11,} {best[k] * 1e3:>9.1f} "
            f"{med[k] * 1e3:>10.1f} {best_cpu[k] * 1e3:>11.1f}"
        )
    r_best = best["quantum"] / best["classical"]
    r_med = med["quantum"] / med["classical"]
    r_cpu = best_cpu["quantum"] / best_cpu["classical"]
    verdict = "meets" if r_best <= 1.10 else "misses"
    print(
        f"ratio quantum / dense: {r_best:.3f} (best wall), {r_med:.3f} (median wall), {r_cpu:.3f} "
        f"(best CPU) -> the quantum head adds {100 * (r_best - 1):+.1f} % (best wall); {verdict} "
        "the <= 10 % target"
    )
    print(
        "best = least disturbed step (timeit's convention); CPU = process time of all threads, "
        "the stable figure on a loaded machine"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
