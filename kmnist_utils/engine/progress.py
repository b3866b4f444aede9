"""One line per training run that a person can watch.

In a notebook (JupyterLab, or a kernel papermill runs) each run has one output line, updated in place
after every epoch: the stored notebook keeps the last state of each line, not a scroll. Anywhere else (a
script, a terminal) each update is printed. Under the pipeline every update is also appended to its
progress log, which the pipeline prints in the terminal, labelled with the notebook.
"""

from __future__ import annotations

from typing import Any, Sequence


def epoch_text(label: str, history: Sequence[dict[str, Any]], epochs: int) -> str:
    """'label: epoch 3/10, train_loss 0.21, val_loss 0.25, val_acc 0.9312, 41 s an epoch, about 5 min left'."""
    last, done = history[-1], len(history)
    per_epoch = sum(h["seconds"] for h in history) / done
    left = per_epoch * max(epochs - done, 0)
    remaining = "done" if left == 0 else f"about {left / 60:.0f} min left" if left >= 90 else f"about {left:.0f} s left"
    return (f"{label}: epoch {done}/{epochs}, train_loss {last['train_loss']:.4f}, val_loss {last['val_loss']:.4f}, "
            f"val_acc {last['val_acc']:.4f}, {per_epoch:.0f} s an epoch, {remaining}")


def history_text(history: Sequence[dict[str, Any]]) -> str:
    """'5 epochs in 312 s, val_acc by epoch 0.9122 0.9301 0.9402 0.9411 0.9455': a cached run's training, as
    its checkpoint keeps it."""
    seconds = sum(h["seconds"] for h in history)
    return (f"{len(history)} epoch{'s' * (len(history) != 1)} in {seconds:.0f} s, val_acc by epoch "
            + " ".join(f"{h['val_acc']:.4f}" for h in history))


def in_notebook() -> bool:
    """True inside a Jupyter kernel, where an output can be updated in place."""
    try:
        from IPython import get_ipython  # lazily: worker processes and scripts never need IPython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class Lines:
    """The progress lines of one training call, one per run, keyed by the run's label."""

    def __init__(self, log: str | None = None, notebook: bool | None = None) -> None:
        self.log = log
        self.notebook = in_notebook() if notebook is None else notebook
        self.handles: dict[str, Any] = {}

    def show(self, key: str, text: str) -> None:
        """Show ``text`` as the current state of run ``key``: a new line, or its line updated."""
        if self.notebook:
            from IPython.display import display  # lazily: see in_notebook

            bundle = {"text/plain": text}
            if key in self.handles:
                self.handles[key].update(bundle, raw=True)
            else:
                self.handles[key] = display(bundle, raw=True, display_id=True)
        else:
            print(text, flush=True)
        if self.log:
            with open(self.log, "a", encoding="utf-8") as log:  # one line a write: a reader skips a torn last one
                log.write(text.replace("\n", " ") + "\n")
