"""Time chapter 06's evaluation steps on cached encoders, whole training split against the support rows
only (nothing may train: run it with the checkpoint cache of a finished run)."""
import time

from kmnist_utils import config, oneshot, runner, tuning

ctx = config.setup("paper", output_root="/tmp/prof06")
parts = runner.load_parts(ctx)
t = time.perf_counter()
trained = oneshot.siamese_encoders(ctx, parts, unseen=False)
print(f"encoders loaded in {time.perf_counter() - t:.1f} s", flush=True)
steps = {}


def step(name, fn):
    start = time.perf_counter()
    out = fn()
    steps[name] = round(time.perf_counter() - start, 1)
    print(f"{name}: {steps[name]} s", flush=True)
    return out


full = step("embed 3 encoders, whole training split", lambda: {
    s: oneshot.embed_parts(m.model.encoder, parts, ctx.device) for s, m in zip(ctx.seeds, trained)})
emb = step("embed 3 encoders, support rows only", lambda: oneshot.encoder_embeddings(ctx, parts, trained))
print("support rows:", len(oneshot.draw_rows(ctx, parts)), "of", len(parts.y_train))
draws = step("metric draws", lambda: oneshot.siamese_metric_draws(ctx, parts, trained, emb))
draws_full = step("metric draws (full embeddings)", lambda: oneshot.siamese_metric_draws(ctx, parts, trained, full))
print("identical draws:", draws.equals(draws_full))
tuned = step("tuned model", lambda: tuning.tuned_run(ctx, parts, ctx.seed).trained.model)
features = step("features", lambda: oneshot.oneshot_features(ctx, parts, emb, tuned))
step("kshot draws", lambda: oneshot.kshot_draws(ctx, parts, features, metric_draws=draws))
step("unseen", lambda: oneshot.unseen_class_experiment(ctx, parts, ctx.seed))
print(steps)
