"""kmnist_utils: the library behind the kmnist-report notebooks.

Notebooks stay thin; every piece of logic lives in a module of one of these layers, each importing only
those listed before it (``tests/test_package.py`` keeps it so; docs/architecture.md has a line on each module):

- ``settings`` (every setting on one screen: the networks, the profiles, chapter 06's and 07's settings) and
  ``references`` (every number the report is judged against), torch-free;
- ``core``: ``paths``, ``atomic``, ``runlock``, ``data``, ``machine``, ``records``;
- ``engine``: ``context``, ``device``, ``chip``, ``seeding``, ``models``, ``augment``, ``training``,
  ``checkpoints``, ``schedule``, ``parallel``, ``progress``, ``runner``;
- ``stats``: ``metrics``, ``findings``, ``yardsticks``, ``selection``, ``parity``, ``curves``;
- ``products``: ``results``, ``provenance``, ``plots``, ``layout``;
- ``chapters``: ``eda``, ``baselines``, ``cnns``, ``tuning``, ``errors``, ``saliency``, ``calibration``,
  ``siamese``, ``fewshot``, ``oneshot``, ``shift``, ``beyond``, ``anchors``, ``summary``;
- ``pipeline``: ``report``, ``kernel``, ``attempts``, ``nbtools``, ``critic``, ``readme``.
"""

__version__ = "0.1.0"
