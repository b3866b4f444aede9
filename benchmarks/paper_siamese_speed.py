"""How fast the engine trains the paper's Siamese method, and so what its schedule costs an encoder.

    python benchmarks/paper_siamese_speed.py --out benchmarks/results/paper-siamese-speed-DATE [--pairs 6400]

Trains ``SiameseNet(encoder="paper", head="weighted_l1")`` on the paper's pairs (``PaperPairObjective``,
batch 128) through ``training.fit`` for one epoch of ``--pairs`` pairs after a warm-up epoch, in each
(threads, precision) setting asked for, alone on the cores, and writes pairs/s and the minutes one
encoder of the paper's schedule (600,000 pairs) would take. Random images of the KMNIST shape: speed
does not depend on pixel values. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from kmnist_utils.chapters import siamese
from kmnist_utils.core.atomic import write_text
from kmnist_utils.core.machine import cpu_model
from kmnist_utils.engine.device import resolve_precision
from kmnist_utils.engine.models import SiameseNet
from kmnist_utils.engine.training import TrainConfig, fit, make_tensor_split
from kmnist_utils.settings import PAPER


def pairs_per_second(pairs: int, threads: int, precision: str) -> float:
    """Pairs a second of one training epoch of ``pairs`` pairs, after a warm-up epoch of a tenth as many."""
    p = PAPER.siamese.paper
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(6_000, 28, 28), dtype=np.uint8)
    y = np.repeat(np.arange(10), 600)
    data = make_tensor_split(x, y, x[:200], y[:200])
    torch.manual_seed(0)
    model = SiameseNet(embedding_dim=p.embedding_dim, head="weighted_l1", encoder="paper")

    def epoch(n: int) -> float:
        config = TrainConfig(1, p.batch_size, p.learning_rate, seed=0, precision=precision, threads=threads)
        start = time.perf_counter()
        fit(model, data, config, progress=False, objective=siamese.PaperPairObjective(n, val_pairs=64))
        return time.perf_counter() - start

    epoch(max(p.batch_size, pairs // 10))
    return pairs / epoch(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6_400)
    parser.add_argument("--settings", nargs="+", default=["2:fp32", "1:fp32", "2:bf16"],
                        help="threads:precision pairs to measure")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    p = PAPER.siamese.paper
    per_encoder = p.pairs_per_epoch * p.epochs
    rows = []
    for setting in args.settings:
        threads, precision = setting.split(":")
        speed = pairs_per_second(args.pairs, int(threads), precision)
        rows.append({"threads": int(threads), "precision": resolve_precision(precision, "cpu"),
                     "pairs_per_s": round(speed, 1), "minutes_per_encoder": round(per_encoder / speed / 60, 1)})
        print(rows[-1], flush=True)
    record = {"rows": rows, "pairs_timed": args.pairs, "pairs_per_encoder": per_encoder, "cpu": cpu_model(),
              "torch": torch.__version__, "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_text(args.out / "paper_siamese_speed.json", json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
