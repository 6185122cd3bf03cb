"""The datasets table (DynamoDB): one item per stored dataset, keyed by symbol and timeframe.

An item mirrors the store's listing of the dataset (range, rows, quality score, source), with
the quality report of the whole dataset and the stream :class:`~tradpal.ingest.watermarks.
Watermarks`. The data function writes it after every ingest; ``GET /v1/data`` lists it, so a
listing reads one table instead of every dataset's manifest in S3.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from tradpal.ingest.watermarks import Watermarks
from tradpal.platform.aws import client
from tradpal.platform.environment import platform_env

TABLE = "datasets_table"


class DatasetRecord(BaseModel):
    """One stored dataset: what the store holds of it, its quality and what went out."""

    symbol: str
    timeframe: str
    source: str
    first: str = Field(description="open time of the first stored bar, ISO 8601 UTC")
    last: str = Field(description="open time of the last stored bar")
    rows: int
    quality_score: float = Field(description="0..100, row-weighted over the stored files")
    updated_at: str
    synthetic: bool
    files: int
    streamed_last: str | None = Field(default=None, description="last bar put on the stream")
    announced_last: str | None = Field(
        default=None, description="last bar a market_data_update covered"
    )
    quality: dict[str, Any] | None = Field(
        default=None, description="the quality report of the whole dataset (rules, score)"
    )

    @classmethod
    def of(cls, listed: Any, report: Any, marks: Watermarks) -> DatasetRecord:
        """From the store's listing entry of the dataset, its quality report and marks."""
        return cls(
            symbol=listed.symbol,
            timeframe=listed.timeframe,
            source=listed.source,
            first=listed.first.isoformat(),
            last=listed.last.isoformat(),
            rows=listed.rows,
            quality_score=float(listed.quality_score),
            updated_at=listed.updated_at.isoformat(),
            synthetic=bool(listed.synthetic),
            files=listed.files,
            streamed_last=_text(marks.streamed_last),
            announced_last=_text(marks.announced_last),
            quality=json.loads(json.dumps(report.to_dict(), allow_nan=False, default=str)),
        )

    @property
    def marks(self) -> Watermarks:
        return Watermarks(_time(self.streamed_last), _time(self.announced_last))


def _text(t: pd.Timestamp | None) -> str | None:
    return None if t is None else t.isoformat()


def _time(text: str | None) -> pd.Timestamp | None:
    return None if not text else pd.Timestamp(text)


def _attribute(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(Decimal(repr(value)))}  # repr: the float back exactly
    return {"S": value}


def to_item(record: DatasetRecord) -> dict[str, Any]:
    """The DynamoDB item of ``record`` (the quality report as JSON text: items hold no NaN)."""
    plain = record.model_dump(exclude_none=True)
    if "quality" in plain:
        plain["quality"] = json.dumps(plain["quality"], allow_nan=False)
    return {k: _attribute(v) for k, v in plain.items()}


def from_item(item: dict[str, Any]) -> DatasetRecord:
    """The record of a DynamoDB item written by :func:`to_item`."""
    plain: dict[str, Any] = {}
    for name, attr in item.items():
        ((kind, value),) = attr.items()
        plain[name] = float(value) if kind == "N" else value
    if "quality" in plain:
        plain["quality"] = json.loads(plain["quality"])
    for name in ("rows", "files"):
        plain[name] = int(plain.get(name, 0))
    return DatasetRecord.model_validate(plain)


class DatasetsTable:
    """The datasets table of the platform (``TRADPAL_DATASETS_TABLE``)."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or platform_env().require(TABLE)

    @property
    def _ddb(self) -> Any:
        return client("dynamodb")

    def get(self, symbol: str, timeframe: str) -> DatasetRecord | None:
        got = self._ddb.get_item(
            TableName=self.name,
            Key={"symbol": {"S": symbol}, "timeframe": {"S": timeframe}},
            ConsistentRead=True,
        )
        item = got.get("Item")
        return None if item is None else from_item(item)

    def put(self, record: DatasetRecord) -> None:
        self._ddb.put_item(TableName=self.name, Item=to_item(record))

    def set_marks(self, symbol: str, timeframe: str, marks: Watermarks) -> None:
        """Advance the watermarks of an existing item (unset marks are left alone)."""
        values = {k: v for k, v in vars(marks).items() if v is not None}
        if not values:
            return
        self._ddb.update_item(
            TableName=self.name,
            Key={"symbol": {"S": symbol}, "timeframe": {"S": timeframe}},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in values),
            ExpressionAttributeNames={f"#{k}": k for k in values},
            ExpressionAttributeValues={f":{k}": {"S": v.isoformat()} for k, v in values.items()},
        )

    def list(self, symbol: str | None = None, timeframe: str | None = None) -> list[DatasetRecord]:
        """Every dataset (or those of ``symbol``, at ``timeframe``), by symbol and timeframe."""
        if symbol is not None:
            pages = self._ddb.get_paginator("query").paginate(
                TableName=self.name,
                KeyConditionExpression="#s = :s",  # names: keep clear of reserved words
                ExpressionAttributeNames={"#s": "symbol"},
                ExpressionAttributeValues={":s": {"S": symbol}},
            )
        else:
            pages = self._ddb.get_paginator("scan").paginate(TableName=self.name)
        records = [from_item(i) for page in pages for i in page.get("Items", ())]
        if timeframe is not None:
            records = [r for r in records if r.timeframe == timeframe]
        return sorted(records, key=lambda r: (r.symbol, r.timeframe))

    def is_empty(self) -> bool:
        return not self._ddb.scan(TableName=self.name, Limit=1).get("Items")
