"""Runs: backtests and discoveries on the platform, from the request to the stored result.

A newcomer tracing ``POST /v1/backtests`` reads, in this folder:

1. :mod:`~tradpal.runs.requests`: the request, checked once (:class:`BacktestRequest`;
   :class:`DiscoveryRunRequest` for a discovery); ``functions/backtests/handler.py`` takes
   it as its body and pins an open data end;
2. :mod:`~tradpal.runs.api` (HTTP): the start, once per ``Idempotency-Key``, answered 202;
   the views of a run and pages of runs;
3. :mod:`~tradpal.runs.orchestration`: the RUNNING record, then the state machine's
   execution (``state_machines/backtest.asl.json``); a record reconciled with an execution
   that ended without recording it;
4. :mod:`~tradpal.runs.backtest` (or :mod:`~tradpal.runs.discovery`): the state machine's
   tasks (validate, ensure data, run, store), which write the result files to the results
   bucket and mark the run SUCCEEDED, and how a finished run's results are shown;
5. :mod:`~tradpal.runs.store` (storage): the runs table.
"""
