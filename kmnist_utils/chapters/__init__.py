"""One module per concern of a chapter, called from its notebook: ``eda`` (01), ``baselines`` (02), ``cnns``
(03), ``tuning`` (04), ``errors``, ``saliency`` and ``calibration`` (05), ``siamese``, ``fewshot`` and
``oneshot`` (06), ``shift``, ``beyond`` and ``anchors`` (07), ``summary`` (08). They use the engine, the
statistics and the products, never the pipeline."""
