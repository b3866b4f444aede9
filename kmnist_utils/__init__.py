"""kmnist_utils: the library behind the kmnist-report notebooks.

Notebooks stay thin; every piece of logic lives in one of these modules:
``data`` (files, checks, split), ``config`` (profiles, run context), ``eda``, ``plots``,
``results`` and ``provenance`` (tables with their origin), ``report`` (the papermill pipeline).
"""

__version__ = "0.1.0"
