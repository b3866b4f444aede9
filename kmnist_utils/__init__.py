"""kmnist_utils: the library behind the kmnist-report notebooks.

Notebooks stay thin; every piece of logic lives in one of these modules (docs/architecture.md has a line
on each):

- chapters: ``eda`` (01), ``baselines`` (02), ``cnns`` (03), ``tuning`` and ``selection`` (04), ``errors``,
  ``saliency`` and ``calibration`` (05), ``oneshot`` (06), ``shift``, ``beyond`` and ``anchors`` (07),
  ``summary`` and ``readme`` (08);
- the engine: ``runner`` (one call to train), ``training``, ``checkpoints``, ``parallel``, ``schedule``,
  ``models``, ``augment``, ``siamese``, ``fewshot``, ``data``, ``device``, ``chip``, ``seeding``;
- settings and references: ``config``, ``settings``, ``paths``, ``references`` (every number the report
  is judged against);
- statistics and sentences: ``metrics``, ``parity``, ``findings``;
- the pipeline and its products: ``report``, ``attempts``, ``runlock``, ``nbtools``, ``critic``,
  ``plots``, ``layout``, ``results``, ``provenance``, ``atomic``.
"""

__version__ = "0.1.0"
