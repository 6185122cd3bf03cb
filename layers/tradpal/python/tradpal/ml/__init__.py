"""Machine learning for trading signals, built so that a model's reported skill can be believed.

The package will hold the feature API, the labels, the leak-proof validation and the models.
Present so far:

- :mod:`tradpal.ml.features`: the declarative :class:`FeatureSet` (text or dict form), the
  feature matrix of :func:`build_features` (returns, volatility, volume, the library's
  indicators, and the same on closed higher-timeframe bars) and
  :func:`lookahead_violations`, the look-ahead check run on that matrix;
- :mod:`tradpal.ml.labels`: the forward-return sign and the ATR triple barrier, each with
  the span ``t1`` of every label (the last bar it uses), and ``sample_spans`` to hand the
  labelled rows and their spans to the splitters;
- :mod:`tradpal.ml.metrics`: per-fold accuracy, log loss and the trade side's precision and
  recall, out-of-sample strategy returns with their Sharpe and deflated Sharpe, and
  ``cv_report`` running a model over a splitter's folds;
- :mod:`tradpal.ml.validation`: purged k-fold with embargo (:class:`PurgedKFold`),
  combinatorial purged cross-validation (:class:`CombinatorialPurgedCV`) and
  :func:`label_spans` for fixed-horizon labels. Import them from that module.
"""
