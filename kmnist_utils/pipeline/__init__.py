"""Running the report: the papermill pipeline (``report``) and its kernels' environment (``kernel``), the
time of a run over several attempts (``attempts``), clean source notebooks (``nbtools``), the checks of the
products (``critic``) and the README's generated results (``readme``). May import everything below."""
