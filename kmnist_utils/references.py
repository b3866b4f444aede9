"""Every number the report is judged against, none of them a result: the paper's (Table I, its tuned
configuration, its one-shot row), the published KMNIST results beyond it, and the targets this report sets
itself (chapters 06 and 07)."""

from __future__ import annotations

import pandas as pd

# Table I's metrics: test accuracy and weighted precision, recall and F1.
METRICS = ("accuracy", "precision", "recall", "f1")
# The paper's code ran twice on record, and the two runs differ: Table I of the paper's text, and the
# printed outputs of the notebook committed with its code (ECEN758_KMNIST.ipynb), a second run of the same
# code. Each is one run a model. Every verdict of the report is taken against both.
TABLE1 = pd.DataFrame(
    [
        ("logreg", 0.598, 0.609, 0.598, 0.600),
        ("simple", 0.934, 0.935, 0.934, 0.934),
        ("resnet", 0.943, 0.943, 0.943, 0.943),
        ("improved", 0.967, 0.968, 0.967, 0.967),
        ("tuned", 0.970, 0.970, 0.970, 0.970),
    ],
    columns=["model", *METRICS],
)
# The notebook's comparison table (its 16th cell) prints every model's accuracy and weighted precision,
# recall and F1; the accuracy is also printed where each model is trained (logistic regression: cell 7,
# "Accuracy: 0.605"; CNNs: cells 10-12; TunedImprovedCNN: cell 14, "Final TunedImprovedCNN test accuracy:
# 0.9699"). Cells counted from 1.
NOTEBOOK_RUN = pd.DataFrame(
    [
        ("logreg", 0.6050, 0.613722, 0.6050, 0.606925),
        ("simple", 0.9392, 0.940447, 0.9392, 0.939354),
        ("resnet", 0.9459, 0.946717, 0.9459, 0.945892),
        ("improved", 0.9720, 0.972266, 0.9720, 0.972015),
        ("tuned", 0.9699, 0.970160, 0.9699, 0.969892),
    ],
    columns=["model", *METRICS],
)
PAPER_RUNS = {"Table I": TABLE1, "the paper's notebook": NOTEBOOK_RUN}
SOURCES = {
    "Table I": "the paper's Table I (three decimals)",
    "the paper's notebook": "the printed outputs of ECEN758_KMNIST.ipynb in the paper's repository: its comparison "
                            "table (cell 16) and each model's training cell (7, 10-12, 14)",
}

# Table I gives three decimals: a reported 0.967 stands for anything in [0.9665, 0.9675). The notebook's
# accuracies are counts over 10,000 test images, printed in full.
ROUNDING = 0.0005
ROUNDINGS = {"Table I": ROUNDING, "the paper's notebook": 0.0}
# The official test set: the binomial standard error of an accuracy on it is the floor under any spread.
TEST_IMAGES = 10_000

# The protocol column of every table that compares with the paper: "paper" where the row follows the
# paper's text and what its code did, else what changed. The paper's code meant to restore the weights
# of the lowest validation loss but kept a live reference to the state dict (``best_state =
# model.state_dict()`` in its training helper, notebook cell 9, and in the TunedImprovedCNN's loop, cell 14),
# so every accuracy it reports comes from the last epoch's weights. Its TunedImprovedCNN loop also wrote
# ``torch.save(best_state, "best_tuned_improved_cnn.pth")`` whenever the validation loss improved: a file
# saved at that moment holds that epoch's weights, and its saliency cell (17) loads that file. Both hold:
# Table I's numbers are last-epoch numbers, Figure 7's maps come from the lowest-validation-loss weights.
PROTOCOL = "paper"
BEST_EPOCH_PROTOCOL = "ours: weights of the lowest validation loss instead of the last epoch"

# The one-shot ladder's first row, the paper's Siamese method (chapter 06 trains it; the report reads it).
SIAMESE_METHOD = "paper's method"

# Section II.D: the configuration the paper's text says its grid search selected (lr, dropout, batch).
TUNED_CONFIG = {"learning_rate": 0.001, "dropout": 0.4, "batch_size": 128}
# What the grid of the paper's notebook selected and retrained ("Best hyperparameters: (0.001, 0.5, 64) with
# val acc 0.9905", cell 13): the run behind the notebook's 0.9699.
NOTEBOOK_TUNED_CONFIG = {"learning_rate": 0.001, "dropout": 0.5, "batch_size": 64}
# The notebook's grid (cell 13): validation accuracy of every point after 3 epochs, one seed, as
# (learning rate, dropout, batch size) -> accuracy. A second run of the grid beside ours.
NOTEBOOK_GRID = {
    (0.001, 0.3, 64): 0.9900, (0.001, 0.3, 128): 0.9853, (0.001, 0.4, 64): 0.9862, (0.001, 0.4, 128): 0.9857,
    (0.001, 0.5, 64): 0.9905, (0.001, 0.5, 128): 0.9886, (0.0005, 0.3, 64): 0.9878, (0.0005, 0.3, 128): 0.9800,
    (0.0005, 0.4, 64): 0.9862, (0.0005, 0.4, 128): 0.9873, (0.0005, 0.5, 64): 0.9877, (0.0005, 0.5, 128): 0.9878,
}


def largest_run_difference(metric: str = "accuracy") -> float:
    """The largest difference between the paper's two runs of one model (0.007: logistic regression)."""
    return float((TABLE1.set_index("model")[metric] - NOTEBOOK_RUN.set_index("model")[metric]).abs().max())


def config_text(config: dict) -> str:
    """'lr 0.001, dropout 0.4, batch 128'."""
    return f"lr {config['learning_rate']:g}, dropout {config['dropout']:g}, batch {int(config['batch_size'])}"


# The TunedImprovedCNN retrained at each of the paper's picks, beside the one our grid picks (the paper's
# procedure, protocol "paper"): each a row of its own, so that another configuration and noise can be told
# apart. Protocol label -> configuration.
PICK_PROTOCOLS = {
    f"paper, at its text's pick ({config_text(TUNED_CONFIG)})": TUNED_CONFIG,
    f"paper, at its notebook's pick ({config_text(NOTEBOOK_TUNED_CONFIG)})": NOTEBOOK_TUNED_CONFIG,
}
# How a sentence names each pick (protocol label -> name).
PICK_NAMES = {protocol: protocol.replace("paper, at its", "the paper's") for protocol in PICK_PROTOCOLS}

# Section IV: 10-way one-shot with the Siamese encoder (macro averages), one support draw.
ONE_SHOT = {"accuracy": 0.7387, "precision_macro": 0.8036, "recall_macro": 0.7387, "f1_macro": 0.7338}


def reported(model: str, metric: str = "accuracy") -> float:
    """The paper's Table I value for a registry model name (``logreg``, ``simple``, ..., ``tuned``)."""
    table = TABLE1.set_index("model")
    if model not in table.index or metric not in table.columns:
        raise KeyError(f"the paper reports no {metric!r} for {model!r}; models: {', '.join(table.index)}")
    return float(table.loc[model, metric])


def reported_runs(model: str, metric: str = "accuracy") -> dict[str, float]:
    """Every run of the paper's that reports ``metric`` for ``model``: label -> value (empty: none does)."""
    return {label: float(table.set_index("model").loc[model, metric]) for label, table in PAPER_RUNS.items()
            if model in set(table.model)}


# The baselines of the KMNIST dataset paper (Clanuwat et al. 2018, table of baselines on the 10,000
# test images): the rows chapter 07 sets its targets against.
DATASET_PAPER_ROWS = {
    "PreActResNet-18": 0.9782,
    "PreActResNet-18 + input mixup": 0.9841,
    "PreActResNet-18 + manifold mixup": 0.9883,
    "ResNet18 + VGG ensemble": 0.9890,
}
DATASET_PAPER_BEST_SINGLE = 0.9883
# Public results of longer runs (the dataset's README, its first release; ours is the current one):
# the best single model (shake-shake-26 2x96d with cutout, 200 epochs) and the best ensemble.
BEST_SINGLE = 0.9934
BEST_ENSEMBLE = 0.9939
# Chapter 07's targets, on the test set, mean over three seeds: clear of the dataset paper's
# PreActResNet-18 (97.82%) by more than any seed spread the report has seen; the ensemble at the
# dataset paper's input-mixup row and above. The aims: 98.6% single, the dataset paper's ensemble row.
TARGET_SINGLE = 0.982
AIM_SINGLE = 0.986
TARGET_ENSEMBLE = 0.985
AIM_ENSEMBLE = 0.989
TARGETS = {"target, single model": TARGET_SINGLE, "target, ensemble": TARGET_ENSEMBLE}


# Chapter 06's targets for the mean test 1-shot accuracy of our encoder (the paper's one-shot rule) over
# draws and encoders.
ONE_SHOT_TARGET = 0.88
ONE_SHOT_AIM = 0.93
# A schedule's length: the first epoch whose validation 1-shot is within this of the run's best (the
# 20 fixed validation draws are the same every epoch, so the curve is compared with itself).
PLATEAU_TOLERANCE = 0.005
