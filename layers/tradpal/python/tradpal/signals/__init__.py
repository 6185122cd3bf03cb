"""Signals: what a strategy wants after every bar, on demand and on every new candle.

* :mod:`~tradpal.signals.compute` (pure): a strategy's signals over a frame, the position
  it wants after each bar and the bars where that changes;
* :mod:`~tradpal.signals.stream` (pure): the ``trading_signal`` events of a batch of new
  candles (only the changes on the new bars, none for history that arrived late);
* :mod:`~tradpal.signals.consumer`: the market-data stream consumer that joins them to the
  store and the bus, publishing each signal once.
"""
