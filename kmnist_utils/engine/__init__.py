"""From a run context to trained models: the run context itself (``context``), devices and precision
(``device``), per-machine memory formats (``chip``), seeds (``seeding``), the networks (``models``), batch
augmentation (``augment``), the training loop (``training``), the checkpoint cache (``checkpoints``), how
the runs of one call share the cores (``schedule``), worker processes (``parallel``), one progress line per
run (``progress``) and the one training call the chapters make (``runner``). Imports only ``core`` and
``settings``: nothing above it."""
