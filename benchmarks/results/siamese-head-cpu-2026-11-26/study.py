"""Scratch: train the current Siamese net for E epochs (fp32 on this CPU), then compare metrics on validation 1-shot."""
import sys, time, json
import numpy as np, torch
torch.set_num_threads(1)
from kmnist_utils import config, experiments, siamese
from kmnist_utils.models import SiameseNet
from kmnist_utils.training import TrainConfig, fit, to_tensor_images
epochs = int(sys.argv[1]); seed = 0; head = sys.argv[2] if len(sys.argv) > 2 else "l1"
ctx = config.setup("paper", seeds=[seed], device="cpu")
parts = experiments.load_parts(ctx)
data = experiments.tensor_split(ctx, parts)
from torch import nn
class EuclidHead(SiameseNet):
    def __init__(self, d):
        super().__init__(d)
        self.log_scale = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(()))
    def forward(self, x1, x2):
        z = self.encoder(torch.cat([x1, x2]))
        z1, z2 = z[: len(x1)], z[len(x1):]
        return self.bias - self.log_scale.exp() * (z1 - z2).pow(2).sum(1)
torch.manual_seed(seed)
model = EuclidHead(64) if head == "euclid" else SiameseNet(64)
t = time.time()
st = fit(model, data, TrainConfig(epochs=epochs, batch_size=128, learning_rate=1e-3, seed=seed, precision="fp32"),
         objective=siamese.PairObjective(48_000, 12_000), progress=False,
         on_epoch_end=lambda s: print(json.dumps(s.history[-1]), flush=True))
print("train s", time.time() - t, flush=True)
torch.save(model.state_dict(), f"/work/scratch/siam_{head}_e{epochs}.pt")
ztr = siamese.embed(model.encoder, to_tensor_images(parts.x_train), 256)
zva = siamese.embed(model.encoder, to_tensor_images(parts.x_val), 256)
w = model.compare.weight.detach().numpy().ravel() if head != "euclid" else -np.ones(64)
print("w stats", np.percentile(w, [0, 10, 50, 90, 100]).round(3), flush=True)
def run(name, ftr, fva):
    d = siamese.few_shot_draws(ftr, parts.y_train, fva, parts.y_val, shots=1, draws=20, seed=0)
    print(name, round(d.accuracy.mean(), 4), flush=True)
run("euclid", ztr, zva)
n = lambda z: z / np.linalg.norm(z, axis=1, keepdims=True)
run("cosine", n(ztr), n(zva))
run("euclid on |w|-scaled", ztr * np.abs(w), zva * np.abs(w))
run("euclid on sqrt|w|-scaled", ztr * np.sqrt(np.abs(w)), zva * np.sqrt(np.abs(w)))
# head as metric: score = w.|q - s|; the most 'same' support wins
rng_draws = []
for draw in range(20):
    idx = siamese.draw_supports(parts.y_train, 1, draw)
    S = ztr[idx]
    g = (np.abs(zva[:, None, :] - S[None]) * w).sum(-1)
    rng_draws.append((parts.y_train[idx][g.argmax(1)] == parts.y_val).mean())
print("head metric", round(float(np.mean(rng_draws)), 4))
