"""Ingest: candles from the configured sources into the store, out on the market-data stream.

* :mod:`~tradpal.ingest.watermarks` (pure): which stored bars go on the stream and which a
  ``market_data_update`` announces, from the dataset's watermarks, so that a retried ingest
  puts nothing twice and announces nothing twice;
* :mod:`~tradpal.ingest.datasets_table` (DynamoDB): the datasets table, one item per stored
  dataset with its range, quality report and watermarks;
* :mod:`~tradpal.ingest.pipeline`: one ingest, store -> table -> stream -> event, and the
  scheduled ingest of the watchlist.
"""
