"""Statistics and the sentences they support, torch-free: scores and their tables (``metrics``), every
sentence that states a finding (``findings``), the grid search's selection rule (``selection``), the paired
check of two training precisions (``parity``) and reading training curves (``curves``). Imports only
``core``, ``settings`` and ``references``."""
