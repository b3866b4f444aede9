import torch, json, sys
torch.set_num_threads(1)
from kmnist_utils import config, experiments, siamese, paper
from kmnist_utils.models import SiameseNet
d = torch.load(sys.argv[1], weights_only=True)
st = d.get("state", d)
print("epochs done", st["epoch"], "best epoch", st["best_epoch"], "best val loss", round(st["best_val_loss"], 4))
ctx = config.setup("paper", seeds=[0], device="cpu", output_root="/work/scratch/partial_out")
parts = experiments.load_parts(ctx)
m = SiameseNet(64, head="euclidean"); m.load_state_dict(st["best_model"])
ztr, zte = experiments.embed_parts(m.encoder, parts, "cpu")
for name in ("euclidean", "cosine"):
    dr = siamese.few_shot_draws(ztr, parts.y_train, zte, parts.y_test, shots=1, draws=100, seed=0, metric=name)
    s = siamese.summarize_draws(dr, reference=paper.ONE_SHOT["accuracy"])
    print(name, {k: round(v, 4) if isinstance(v, float) else v for k, v in s.items()})
