"""Independent training runs of one architecture trained as one batched model ("N models as groups").

On a GPU each training step of the paper's small CNNs is a handful of tiny kernels, so the time goes
to Python and kernel launches, not arithmetic. Training N runs side by side turns N small steps into
one step of N times the width: every convolution becomes one grouped convolution (``groups=N``),
every batch norm one ``BatchNorm2d(N * C)`` (exactly N independent batch norms: statistics are per
channel), every linear layer one batched matrix product, dropout one mask with a rate per model.

The grouped layers hold the N original modules and concatenate their weights in every forward
pass, so gradients flow into the original parameters, each run keeps its own Adam optimizer (its
own learning rate and state), and afterwards each model is an ordinary model whose checkpoint is
the one a separate run would have written. Each run keeps its own seed: its own initial weights
and its own data order. What differs from separate runs: floating-point summation order (grouped
kernels), and dropout masks (one random stream for the group instead of one per run).
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from kmnist_utils.augment import augment_batch
from kmnist_utils.checkpoints import CheckpointStore, TrainSpec, epoch_saver, mark_trained_now
from kmnist_utils.models import build_model
from kmnist_utils.training import (
    EVAL_BATCH,
    Classification,
    FitState,
    TensorSplit,
    TrainConfig,
    augment_generator,
    autocast_context,
    epoch_permutation,
    learning_rate_at,
    make_optimizer,
    resolve_precision,
    set_learning_rate,
    torch_threads,
    uses_channels_last,
)


class GroupedConv2d(nn.Module):
    """N convolutions of the same shape as one grouped convolution on N stacked inputs."""

    def __init__(self, members: Sequence[nn.Conv2d]) -> None:
        super().__init__()
        first = members[0]
        if any(m.weight.shape != first.weight.shape or m.groups != first.groups for m in members):
            raise ValueError("grouped convolutions need members of one shape")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.members[0]
        weight = torch.cat([m.weight for m in self.members])
        bias = None if first.bias is None else torch.cat([m.bias for m in self.members])
        return F.conv2d(x, weight, bias, first.stride, first.padding, first.dilation, first.groups * len(self.members))


class GroupedBatchNorm2d(nn.Module):
    """N batch norms as one over N x C channels; running statistics are copied back by ``write_back``."""

    def __init__(self, members: Sequence[nn.BatchNorm2d]) -> None:
        super().__init__()
        first = members[0]
        if any((m.num_features, m.eps, m.momentum) != (first.num_features, first.eps, first.momentum) for m in members):
            raise ValueError("grouped batch norms need members of one shape and setting")
        self.members = nn.ModuleList(members)
        self.register_buffer("running_mean", torch.cat([m.running_mean for m in members]).clone())
        self.register_buffer("running_var", torch.cat([m.running_var for m in members]).clone())
        self.register_buffer("num_batches_tracked", first.num_batches_tracked.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.members[0]
        if self.training:
            self.num_batches_tracked += 1
        return F.batch_norm(
            x, self.running_mean, self.running_var, torch.cat([m.weight for m in self.members]),
            torch.cat([m.bias for m in self.members]), self.training, first.momentum, first.eps,
        )

    @torch.no_grad()
    def write_back(self) -> None:
        """Give each member its own slice of the running statistics (what its checkpoint stores)."""
        for member, mean, var in zip(self.members, self.running_mean.chunk(len(self.members)),
                                     self.running_var.chunk(len(self.members))):
            member.running_mean.copy_(mean)
            member.running_var.copy_(var)
            member.num_batches_tracked.copy_(self.num_batches_tracked)


class GroupedLinear(nn.Module):
    """N linear layers as one batched matrix product on inputs laid out model by model: (B, N * in)."""

    def __init__(self, members: Sequence[nn.Linear]) -> None:
        super().__init__()
        if any(m.weight.shape != members[0].weight.shape for m in members):
            raise ValueError("grouped linear layers need members of one shape")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, (out_features, in_features) = len(self.members), self.members[0].weight.shape
        weight = torch.stack([m.weight for m in self.members])  # (N, out, in)
        bias = torch.stack([m.bias for m in self.members]).unsqueeze(1)  # (N, 1, out)
        per_model = x.reshape(len(x), n, in_features).transpose(0, 1)  # (N, B, in)
        return torch.baddbmm(bias, per_model, weight.transpose(1, 2)).transpose(0, 1).reshape(len(x), n * out_features)


class GroupedDropout(nn.Module):
    """Dropout with one rate per model on inputs laid out model by model: (B, N * features)."""

    def __init__(self, rates: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("keep", 1.0 - torch.tensor(rates, dtype=torch.float32).unsqueeze(1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or bool((self.keep == 1).all()):
            return x
        per_model = x.reshape(len(x), len(self.keep), -1)
        # Draw in float32 whatever the activations' dtype: bf16 random numbers would round the rates.
        mask = torch.rand(per_model.shape, device=x.device) < self.keep
        return (per_model * (mask / self.keep).to(per_model.dtype)).reshape(x.shape)


# Layers with parameters or per-model settings, and their grouped form; every other layer (ReLU,
# pooling, identity) acts per channel and is shared as it is.
GROUPED_LAYERS: dict[type, Callable[[list[nn.Module]], nn.Module]] = {
    nn.Conv2d: GroupedConv2d,
    nn.BatchNorm2d: GroupedBatchNorm2d,
    nn.Linear: GroupedLinear,
    nn.Dropout: lambda members: GroupedDropout([m.p for m in members]),
}


def group(models: Sequence[nn.Module]) -> nn.Module:
    """One module that runs ``models`` (one architecture) side by side.

    It keeps the architecture's own ``forward``: input (B, N * in_channels, H, W) with model n's
    images in channel group n; output (B, N * classes), model by model. Its parameters are the
    models' own, so training it trains them.
    """
    if not models:
        raise ValueError("group needs at least one model")
    if len({type(m) for m in models}) != 1:
        raise ValueError(f"group needs models of one architecture, got {sorted({type(m).__name__ for m in models})}")
    template = copy.deepcopy(models[0])
    _replace_layers(template, list(models))
    return template


def _replace_layers(template: nn.Module, members: list[nn.Module]) -> None:
    for name, child in list(template.named_children()):
        counterparts = [getattr(m, name) for m in members]
        grouped = next((make for kind, make in GROUPED_LAYERS.items() if type(child) is kind), None)
        if grouped is not None:
            setattr(template, name, grouped(counterparts))
        elif any(True for _ in child.parameters(recurse=False)) or any(True for _ in child.buffers(recurse=False)):
            raise TypeError(f"cannot group layer {name} of type {type(child).__name__}")
        else:
            _replace_layers(child, counterparts)


@torch.no_grad()
def write_back(grouped: nn.Module) -> None:
    """Copy the running statistics of every grouped batch norm into its members."""
    for module in grouped.modules():
        if isinstance(module, GroupedBatchNorm2d):
            module.write_back()


def _check_configs(configs: Sequence[TrainConfig]) -> None:
    shared = {(c.epochs, c.batch_size, c.precision, c.channels_last, c.threads) for c in configs}
    if len(shared) != 1:
        raise ValueError("runs trained together need the same epochs, batch size, precision, memory format and "
                         f"threads, got {sorted(shared, key=str)}")
    if any(c.patience is not None for c in configs):
        raise ValueError("runs with early stopping end at different epochs: train them one by one")


@torch.inference_mode()
def batched_logits(grouped: nn.Module, x: torch.Tensor, n_models: int, precision: str,
                   batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """float32 logits (len(x), N, classes) of every model for the same images ``x`` (B, 1, H, W)."""
    grouped.eval()
    parts = []
    with autocast_context(precision, str(x.device)):
        for lo in range(0, len(x), batch_size):
            chunk = x[lo : lo + batch_size].expand(-1, n_models, -1, -1)
            parts.append(grouped(chunk).float().reshape(len(chunk), n_models, -1))
    return torch.cat(parts)


def fit_batched(
    models: Sequence[nn.Module],
    data: TensorSplit,
    configs: Sequence[TrainConfig],
    on_epoch_end: Sequence[Callable[[FitState], None]] | None = None,
    objective: Classification | None = None,
) -> list[FitState]:
    """Train ``models`` (one architecture, freshly initialised) side by side on ``objective`` (default:
    the paper's cross-entropy), as the engine's ``fit`` would train each alone: each run's optimizer,
    learning rate and schedule, each run's own data order, each run's kept weights (``TrainConfig.keep``) loaded.
    Augmentation draws from one random stream for the group (seeded by the first run's seed).
    Returns one ``FitState`` per run."""
    _check_configs(configs)
    with torch_threads(configs[0].threads):
        return _fit_batched(models, data, configs, on_epoch_end, objective)


def _fit_batched(models: Sequence[nn.Module], data: TensorSplit, configs: Sequence[TrainConfig],
                 on_epoch_end: Sequence[Callable[[FitState], None]] | None,
                 objective: Classification | None) -> list[FitState]:
    objective = objective or Classification()
    n_models, config = len(models), configs[0]
    device = str(data.x_train.device)
    precision = resolve_precision(config.precision, device)
    for model in models:
        model.to(device)
    grouped = group(models).to(device)
    if uses_channels_last(config, precision):
        grouped.to(memory_format=torch.channels_last)
    optimizers = [make_optimizer(m.parameters(), c, device) for m, c in zip(models, configs)]
    states = [FitState() for _ in models]
    n = len(data.x_train)
    batches = -(-n // config.batch_size)
    for epoch in range(config.epochs):
        start = time.perf_counter()
        grouped.train()
        order = torch.stack([epoch_permutation(n, c.seed, epoch) for c in configs]).to(device)  # (N, n)
        generator = augment_generator(config.seed, epoch, device)
        loss_sum = torch.zeros(n_models, device=device)
        correct = torch.zeros(n_models, device=device)
        for step, lo in enumerate(range(0, n, config.batch_size)):
            for optimizer, c in zip(optimizers, configs):
                if c.lr_schedule != "constant":
                    set_learning_rate(optimizer, learning_rate_at(c, epoch * batches + step, c.epochs * batches))
            index = order[:, lo : lo + config.batch_size]  # (N, b): each run's own batch
            x = data.x_train[index].flatten(1, 2).transpose(0, 1)  # (b, N, H, W): run n in channel n
            if objective.augment is not None:  # every image of every run its own transform
                x = augment_batch(x.reshape(-1, 1, *x.shape[2:]), objective.augment, generator).reshape(x.shape)
            y = data.y_train[index].T  # (b, N)
            with autocast_context(precision, device):
                logits = grouped(x).reshape(len(x), n_models, -1)
            losses = objective.loss(logits.transpose(1, 2), y, reduction="none").mean(0)  # (N,)
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()  # the runs share no parameter: each gets its own loss's gradient
            for optimizer in optimizers:
                optimizer.step()
            loss_sum += losses.detach() * len(x)
            correct += (logits.detach().argmax(2) == y).sum(0)
        val_logits = batched_logits(grouped, data.x_val, n_models, precision)
        val_y = data.y_val.to(val_logits.device)
        write_back(grouped)
        seconds = time.perf_counter() - start
        for i, (model, optimizer, state) in enumerate(zip(models, optimizers, states)):
            record = {
                "epoch": epoch + 1,
                "train_loss": loss_sum[i].item() / n,
                "train_acc": correct[i].item() / n,
                "val_loss": F.cross_entropy(val_logits[:, i], val_y).item(),
                "val_acc": (val_logits[:, i].argmax(1) == val_y).float().mean().item(),
                "seconds": seconds / n_models,  # each run's share of the group's epoch
            }
            state.end_epoch(record, model, optimizer)
            if on_epoch_end is not None:
                on_epoch_end[i](state)
    for model, state, config in zip(models, states, configs):
        model.load_state_dict(state.kept_weights(config.keep))
    return states


def groupable(spec: TrainSpec) -> bool:
    """Runs the batched engine can train: classifiers (cross-entropy, a fixed number of epochs)."""
    # Mixup is not built into the batched engine: such runs train one by one.
    return ((spec.objective is None or (type(spec.objective) is Classification and not spec.objective.mixup))
            and spec.config.patience is None)


def train_group_cached(
    specs: Sequence[TrainSpec],
    data: TensorSplit,
    store: CheckpointStore,
    milestones: Callable[[TrainSpec], tuple[int, ...]] = lambda spec: (),
) -> list[Path]:
    """Train the runs of ``specs`` that have no checkpoint yet side by side and store each one's
    checkpoint, exactly where ``train_cached`` looks for it. Runs with a partial checkpoint are left
    to ``train_cached``, which resumes them one by one. Returns the checkpoints written."""
    todo = []
    for spec in specs:
        meta = spec.meta(data)
        if not groupable(spec):
            raise ValueError(f"{spec.model} seed {spec.config.seed}: only plain classifier runs train as a group")
        if not (store.is_finished(meta) or store.path(meta, partial=True).is_file()):
            todo.append((spec, meta))
    if not todo:
        return []
    models = []
    for spec, _ in todo:
        torch.manual_seed(spec.config.seed)  # the initial weights train_cached would give this run
        models.append(build_model(spec.model, **spec.hparams))
    savers = [epoch_saver(store, meta, spec, milestones(spec), lambda state, spec=spec: print(
        state.line(f"{spec.display()} seed {spec.config.seed} (batched)", spec.config.epochs), flush=True))
        for spec, meta in todo]
    objectives = {json.dumps(spec.objective and spec.objective.describe(), sort_keys=True) for spec, _ in todo}
    if len(objectives) != 1:
        raise ValueError(f"runs trained together need one objective, got {sorted(objectives)}")
    states = fit_batched(models, data, [spec.config for spec, _ in todo], savers, todo[0][0].objective)
    written = []
    for (spec, meta), state in zip(todo, states):
        written.append(store.save(meta, state))
        store.discard_partial(meta)
        mark_trained_now(written[-1])
    return written
