"""The path of one training call through the package: from chapter 03's ``cnns.train_and_test`` to a trained
model, measured by tracing, once training a Simple CNN (smoke profile, empty cache, in this process) and once
loading it from the cache.

Counted: the package modules the call enters, and the distinct caller -> callee function pairs that cross
from one module into another (calls) and back (returns), so that a loop over batches counts once.

    python benchmarks/call_walk.py --out benchmarks/results/call-walk-<cpu>-<date>
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

PACKAGE = "kmnist_utils"


def walk(call) -> dict:
    """Trace ``call()``: modules entered, distinct cross-module calls and returns (function pairs)."""
    modules, calls, returns = set(), set(), set()

    def module_of(frame) -> str:
        return frame.f_globals.get("__name__", "")

    def profiler(frame, event, arg):
        if event not in ("call", "return"):
            return
        here, back = module_of(frame), frame.f_back and module_of(frame.f_back)
        if not here.startswith(PACKAGE) or not back or here == back:
            return
        if event == "call":
            modules.add(here)
            calls.add((f"{back}.{frame.f_back.f_code.co_name}", f"{here}.{frame.f_code.co_name}"))
        elif back.startswith(PACKAGE):
            returns.add((f"{here}.{frame.f_code.co_name}", f"{back}.{frame.f_back.f_code.co_name}"))

    sys.setprofile(profiler)
    try:
        call()
    finally:
        sys.setprofile(None)
    return {"modules": sorted(modules), "calls": sorted(map(list, calls)), "returns": sorted(map(list, returns))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="call-walk-"))
    os.environ["KMNIST_CACHE_DIR"] = str(work / "cache")
    os.environ["KMNIST_WORKERS"] = "1"
    from kmnist_utils.chapters import cnns  # after the environment: the context reads it
    from kmnist_utils.engine import context, runner

    ctx = context.setup("smoke", output_root=work / "out", lock=False)
    parts = runner.load_parts(ctx)
    spec = cnns.cnn_spec(ctx, "simple", ctx.seed)
    walks = {"train": walk(lambda: cnns.train_and_test(ctx, parts, [spec])),
             "cached": walk(lambda: cnns.train_and_test(ctx, parts, [spec]))}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "call_walk.json").write_text(json.dumps(walks, indent=1) + "\n")
    for name, found in walks.items():
        print(f"{name}: {len(found['modules'])} modules, {len(found['calls'])} calls, "
              f"{len(found['returns'])} returns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
