"""Trading: the trader that runs a strategy against an exchange, paper or live.

The same rules as the backtest engine (:mod:`tradpal.backtest.engine`'s module docstring),
carried out with orders instead of simulated fills:

* :mod:`tradpal.trading.orders`: orders and their deterministic client order ids;
* :mod:`tradpal.trading.book`: fills recorded once each, the position and cash they add up
  to, and the round-trip trades;
* :mod:`tradpal.trading.paper`: a paper exchange with ccxt's interface, filled by candles;
* :mod:`tradpal.trading.trader`: the decisions at each closed candle and the orders they
  send, through any exchange with ccxt's interface;
* :mod:`tradpal.trading.replay`: a paper session fed from stored or sample candles.
"""
