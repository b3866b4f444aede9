"""Train one Siamese encoder exactly as notebook 06 does (the profile's spec, cached) and measure
10-way 1-shot accuracy on the test set over the profile's support draws, for machines or sessions
that cannot run the whole chapter (its unseen-class study trains dozens of encoders).

    KMNIST_WORKERS=1 .venv/bin/python benchmarks/siamese_one_encoder.py --seed 0 --out benchmarks/results/<folder>

Writes ``siamese_seed<N>.json`` (history, test 1-shot summaries per metric, provenance) to --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from kmnist_utils import references
from kmnist_utils.chapters import fewshot, oneshot
from kmnist_utils.core.atomic import write_text
from kmnist_utils.engine import context, runner
from kmnist_utils.products.provenance import provenance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    ctx = context.setup(args.profile, seeds=[args.seed], device=args.device, output_root=args.out / "run")
    parts = runner.load_parts(ctx)
    start = time.perf_counter()
    trained = oneshot.siamese_encoders(ctx, parts, unseen=False)[0]
    train_s = time.perf_counter() - start
    z_train, z_test = oneshot.embed_parts(trained.model.encoder, parts, ctx.device)
    S = ctx.profile.siamese
    results = {}
    for name, metric in {
        "euclidean": "euclidean",
        "cosine": "cosine",
        "learned head": fewshot.head_similarity(trained.model),
    }.items():
        draws = fewshot.few_shot_draws(
            z_train, parts.y_train, z_test, parts.y_test, shots=1, draws=S.draws, seed=ctx.seed, metric=metric
        )
        results[name] = fewshot.summarize_draws(draws, reference=references.ONE_SHOT["accuracy"])
        print(f"{name}: mean {results[name]['mean']:.4f} over {S.draws} draws", flush=True)
    payload = {
        "seed": args.seed,
        "train_seconds": train_s,
        "epochs_run": trained.state.epoch,
        "best_epoch": trained.state.best_epoch,
        "history": trained.state.history,
        "test_1shot": results,
        "settings": dataclasses.asdict(S),
        "provenance": provenance(ctx),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / f"siamese_seed{args.seed}.json", json.dumps(payload, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
