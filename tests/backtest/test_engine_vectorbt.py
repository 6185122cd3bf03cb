"""The engine against an independent reference: vectorbt's Portfolio.from_signals.

Where the two conventions coincide (fills at the close, fees on notional at the slipped
price, size=np.inf sized as cash / (1 + fees) / slipped price, stops from the fill price as
stop-market orders, stop before target, signals ignored in a bar that stopped out, open
positions marked at the last close), every trade and the equity of every bar agree to
1e-9 relative on real series. The last tests show each place where they deliberately
differ, with both numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradpal.backtest import BacktestConfig, run_backtest, simulate
from tradpal.data.contract import MarketMeta, make_ohlcv, with_meta
from tradpal.data.importers import import_binance_klines, import_file
from tradpal.strategies import Signals

vbt = pytest.importorskip("vectorbt")
# vectorbt 1.2 on pandas 3 warns about its own deprecated calls
pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")

REL = 1e-9
CAPITAL = 10_000.0


@pytest.fixture(scope="module")
def series(shared_data) -> dict[str, pd.DataFrame]:
    btc, _ = import_binance_klines(shared_data / "BTCUSDT-1h.csv")
    eth, _ = import_file(shared_data / "ETH_BTC-5m.feather")
    xrp, _ = import_file(shared_data / "XRP_USDT_USDT-5m-futures.feather")
    return {"btc": btc, "eth": eth, "xrp": xrp}


def ohlc(frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(frame[k].to_numpy() for k in ("open", "high", "low", "close"))


def random_signals(n: int, seed: int, p: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random(n) < p, rng.random(n) < p


def vbt_run(frame: pd.DataFrame, entries, exits, **kw):
    """from_signals with every argument given in one form (float scalars, full arrays), so
    numba compiles one signature for all the tests of this module."""
    z = np.zeros(len(frame), dtype=bool)
    args = dict(
        price=frame["close"],
        size=np.inf,
        fees=0.0,
        slippage=0.0,
        sl_stop=np.nan,
        tp_stop=np.nan,
        sl_trail=False,
        stop_entry_price="close",
        stop_exit_price="stoplimit",
        short_entries=z,
        short_exits=z,
        init_cash=CAPITAL,
    )
    args.update(kw)
    for k in ("size", "fees", "slippage", "sl_stop", "tp_stop", "init_cash"):
        args[k] = float(args[k])
    return vbt.Portfolio.from_signals(
        frame["close"],
        entries,
        exits,
        open=frame["open"],
        high=frame["high"],
        low=frame["low"],
        **args,
    )


def assert_same_as_vbt(out, pf) -> None:
    rec = pf.trades.values
    assert out.num_trades == len(rec)
    np.testing.assert_array_equal(out.column("entry_bar"), rec["entry_idx"])
    np.testing.assert_array_equal(out.column("exit_bar"), rec["exit_idx"])
    np.testing.assert_allclose(out.column("entry_price"), rec["entry_price"], rtol=REL)
    np.testing.assert_allclose(out.column("exit_price"), rec["exit_price"], rtol=REL)
    np.testing.assert_allclose(out.column("quantity"), rec["size"], rtol=REL)
    np.testing.assert_allclose(
        out.column("fees"), rec["entry_fees"] + rec["exit_fees"], rtol=REL, atol=1e-12
    )
    # PnL can be near zero: compare against the money at stake
    np.testing.assert_allclose(out.column("pnl"), rec["pnl"], rtol=0, atol=REL * CAPITAL)
    np.testing.assert_allclose(out.equity, pf.value().to_numpy(), rtol=REL)
    assert out.final_equity == pytest.approx(float(pf.final_value()), rel=REL)


@pytest.mark.parametrize("name", ["btc", "eth", "xrp"])
@pytest.mark.parametrize(
    ("seed", "fees", "slippage"), [(1, 0.001, 0.0005), (2, 0.0, 0.0), (3, 0.0025, 0.001)]
)
def test_all_in_long_only_equals_vectorbt(series, name, seed, fees, slippage):
    frame = series[name]
    le, lx = random_signals(len(frame), seed)
    z = np.zeros(len(frame), dtype=bool)
    cfg = BacktestConfig(
        capital=CAPITAL,
        fees=fees,
        slippage=slippage,
        sizing="all",
        stop_loss=None,
        take_profit=None,
    )
    out = simulate(*ohlc(frame), le, lx, z, z, cfg)
    pf = vbt_run(frame, le, lx, size=np.inf, fees=fees, slippage=slippage)
    assert out.num_trades > 30
    assert_same_as_vbt(out, pf)


def test_run_backtest_ledger_times_equal_vectorbt(series):
    """The DataFrame path: entry and exit times and prices of every trade."""
    frame = series["btc"]
    le, lx = random_signals(len(frame), 11)
    z = np.zeros(len(frame), dtype=bool)
    cfg = BacktestConfig(
        fees=0.001, slippage=0.0005, sizing="all", stop_loss=None, take_profit=None
    )
    res = run_backtest(frame, Signals(le, lx, z, z), cfg)
    pf = vbt_run(frame, le, lx, size=np.inf, fees=0.001, slippage=0.0005)
    ref = pf.trades.records_readable
    assert res.metrics.num_trades == len(ref)
    np.testing.assert_array_equal(
        res.trades["entry_time"].to_numpy(), ref["Entry Timestamp"].to_numpy()
    )
    np.testing.assert_array_equal(
        res.trades["exit_time"].to_numpy(), ref["Exit Timestamp"].to_numpy()
    )
    np.testing.assert_allclose(res.trades["entry_price"], ref["Avg Entry Price"], rtol=REL)
    np.testing.assert_allclose(res.trades["exit_price"], ref["Avg Exit Price"], rtol=REL)
    assert res.metrics.final_equity == pytest.approx(float(pf.final_value()), rel=REL)
    assert res.metrics.total_return == pytest.approx(float(pf.total_return()), rel=REL)
    assert res.metrics.max_drawdown == pytest.approx(-float(pf.max_drawdown()), rel=REL)
    returns = pf.returns()  # vectorbt's bar returns, the first against the initial cash
    assert res.metrics.sharpe == pytest.approx(
        float(returns.vbt.returns(freq="1h", year_freq="365 days").sharpe_ratio()), rel=1e-9
    )
    assert res.metrics.sortino == pytest.approx(
        float(returns.vbt.returns(freq="1h", year_freq="365 days").sortino_ratio()), rel=1e-9
    )
    assert res.metrics.win_rate == pytest.approx(float(pf.trades.win_rate()), rel=1e-12)


@pytest.mark.parametrize("name", ["btc", "eth", "xrp"])
@pytest.mark.parametrize(("sl", "tp"), [(0.02, 0.04), (0.01, 0.01), (0.05, None), (None, 0.03)])
def test_fraction_stops_equal_vectorbt_without_slippage(series, name, sl, tp):
    """Stops and targets as fractions of the entry price: with no slippage every
    convention coincides (vectorbt told to base stops on the fill price)."""
    frame = series[name]
    le, lx = random_signals(len(frame), 5, p=0.03)
    z = np.zeros(len(frame), dtype=bool)
    cfg = BacktestConfig(fees=0.001, sizing="all", stop_loss=sl, take_profit=tp)
    out = simulate(*ohlc(frame), le, lx, z, z, cfg)
    pf = vbt_run(
        frame,
        le,
        lx,
        size=np.inf,
        fees=0.001,
        sl_stop=sl or np.nan,
        tp_stop=tp or np.nan,
        stop_entry_price="fillprice",
        stop_exit_price="stopmarket",
    )
    reasons = out.column("reason")
    assert (reasons == 1).any() or (reasons == 2).any()  # stops and targets did fire
    assert_same_as_vbt(out, pf)


@pytest.mark.parametrize("name", ["btc", "xrp"])
def test_stop_with_slippage_and_trailing_stop_equal_vectorbt(series, name):
    """Stop-market exits pay slippage in both; a trailing stop follows the highest high
    after each bar's check in both."""
    frame = series[name]
    le, lx = random_signals(len(frame), 9, p=0.03)
    z = np.zeros(len(frame), dtype=bool)
    common = dict(fees=0.001, slippage=0.0007, sizing="all", take_profit=None)
    out = simulate(*ohlc(frame), le, lx, z, z, BacktestConfig(stop_loss=0.015, **common))
    pf = vbt_run(
        frame,
        le,
        lx,
        size=np.inf,
        fees=0.001,
        slippage=0.0007,
        sl_stop=0.015,
        stop_entry_price="fillprice",
        stop_exit_price="stopmarket",
    )
    assert_same_as_vbt(out, pf)
    trail = BacktestConfig(stop_loss=None, trailing_stop=0.02, **common)
    out = simulate(*ohlc(frame), le, lx, z, z, trail)
    pf = vbt_run(
        frame,
        le,
        lx,
        size=np.inf,
        fees=0.001,
        slippage=0.0007,
        sl_stop=0.02,
        sl_trail=True,
        stop_entry_price="fillprice",
        stop_exit_price="stopmarket",
    )
    assert (out.column("reason") == 3).sum() > 10
    assert_same_as_vbt(out, pf)


def test_long_short_reversals_with_fixed_quantity_equal_vectorbt(series):
    """Both directions, reversals on opposite entries, conflicting signals ignored."""
    frame = series["btc"]
    n = len(frame)
    rng = np.random.default_rng(21)
    le, lx, se, sx = (rng.random(n) < 0.04 for _ in range(4))
    cfg = BacktestConfig(
        capital=1e6,
        fees=0.001,
        slippage=0.0003,
        sizing="qty:2",
        stop_loss=None,
        take_profit=None,
        max_leverage=100.0,
    )
    out = simulate(*ohlc(frame), le, lx, se, sx, cfg)
    pf = vbt_run(
        frame,
        le,
        lx,
        short_entries=se,
        short_exits=sx,
        size=2.0,
        fees=0.001,
        slippage=0.0003,
        init_cash=1e6,
    )
    rec = pf.trades.values
    assert (out.column("side") < 0).sum() > 20 and (out.column("reason") == 5).sum() > 10
    np.testing.assert_array_equal(out.column("entry_bar"), rec["entry_idx"])
    np.testing.assert_array_equal(out.column("exit_bar"), rec["exit_idx"])
    np.testing.assert_array_equal(out.column("side") < 0, rec["direction"] == 1)
    np.testing.assert_allclose(out.column("entry_price"), rec["entry_price"], rtol=REL)
    np.testing.assert_allclose(out.column("exit_price"), rec["exit_price"], rtol=REL)
    np.testing.assert_allclose(out.column("pnl"), rec["pnl"], rtol=0, atol=REL * 1e6)
    np.testing.assert_allclose(out.equity, pf.value().to_numpy(), rtol=REL)


# --- where the conventions deliberately differ ------------------------------------------


def bars(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    o, h, lo, c = (np.array(col, dtype=float) for col in zip(*rows, strict=True))
    time = pd.date_range("2024-01-01", periods=len(rows), freq="1h", tz="UTC")
    frame = make_ohlcv(time, o, h, lo, c, np.ones(len(rows)))
    return with_meta(frame, MarketMeta("TEST/USD", "1h", "hand"))


def flags(n: int, *on: int) -> np.ndarray:
    a = np.zeros(n, dtype=bool)
    a[list(on)] = True
    return a


def test_difference_gap_through_the_target_while_the_low_touches_the_stop():
    """The bar opens above the target, then falls through the stop. The target is a limit
    order resting at 104: it fills at the open 106 before the fall. vectorbt checks the stop
    first and exits at the stop (98)."""
    frame = bars([(100, 100, 100, 100), (100, 101, 99.5, 100), (106, 106, 97, 97)])
    n = len(frame)
    le, no = flags(n, 0), flags(n)
    ours = simulate(
        *ohlc(frame),
        le,
        no,
        no,
        no,
        BacktestConfig(fees=0.0, sizing="all", stop_loss=0.02, take_profit=0.04),
    )
    pf = vbt_run(
        frame,
        le,
        no,
        size=np.inf,
        sl_stop=0.02,
        tp_stop=0.04,
        stop_entry_price="fillprice",
        stop_exit_price="stopmarket",
    )
    assert ours.column("exit_price")[0] == 106.0  # ours: target, at the better open
    assert pf.trades.values["exit_price"][0] == pytest.approx(98.0)  # vectorbt: the stop
    assert ours.final_equity == pytest.approx(10_600.0)
    assert float(pf.final_value()) == pytest.approx(9_800.0)


def test_difference_slippage_on_targets():
    """Targets are limit orders: ours fills at 104.00 exactly; vectorbt's stop-market
    target pays slippage (104 x 0.99 = 102.96), its stop-limit default none on stops."""
    frame = bars([(100, 100, 100, 100), (101, 106, 100.5, 104.5)])
    n = len(frame)
    le, no = flags(n, 0), flags(n)
    cfg = BacktestConfig(fees=0.0, slippage=0.01, sizing="all", stop_loss=None, take_profit=0.04)
    ours = simulate(*ohlc(frame), le, no, no, no, cfg)
    pf = vbt_run(
        frame,
        le,
        no,
        size=np.inf,
        slippage=0.01,
        tp_stop=0.04,
        stop_entry_price="fillprice",
        stop_exit_price="stopmarket",
    )
    entry = 100 * 1.01
    assert ours.column("exit_price")[0] == pytest.approx(entry * 1.04, rel=1e-15)
    assert pf.trades.values["exit_price"][0] == pytest.approx(entry * 1.04 * 0.99, rel=1e-12)


def test_difference_stop_reference_price_with_slippage():
    """Ours measures a fractional stop from the entry fill price (101 with 1 % slippage,
    stop 98.97); vectorbt's default measures it from the close (100, stop 98.00) and fills
    stops without slippage."""
    frame = bars([(100, 100, 100, 100), (100, 100.5, 98.5, 99), (99, 99, 97, 97.5)])
    n = len(frame)
    le, no = flags(n, 0), flags(n)
    cfg = BacktestConfig(fees=0.0, slippage=0.01, sizing="all", stop_loss=0.02, take_profit=None)
    ours = simulate(*ohlc(frame), le, no, no, no, cfg)
    pf = vbt_run(frame, le, no, size=np.inf, slippage=0.01, sl_stop=0.02)
    stop = 101.0 * (1 - 0.02)
    assert ours.column("exit_bar")[0] == 1
    assert ours.column("exit_price")[0] == pytest.approx(stop * 0.99, rel=1e-15)
    rec = pf.trades.values
    assert rec["exit_idx"][0] == 2 and rec["exit_price"][0] == pytest.approx(98.0)


def test_difference_entry_bar_with_next_open_fills():
    """With next-open fills our stop is live from the entry at the open, so a fall within
    the entry bar exits there (bar 1). vectorbt, given the open as its order price and
    the signals shifted a bar, checks stops only from the bar after (bar 2)."""
    frame = bars([(100, 100, 100, 100), (100, 100.5, 97, 99), (99, 99.5, 96, 96)])
    n = len(frame)
    le, no = flags(n, 0), flags(n)
    cfg = BacktestConfig(fees=0.0, fill="next_open", sizing="all", stop_loss=0.02, take_profit=None)
    ours = simulate(*ohlc(frame), le, no, no, no, cfg)
    pf = vbt_run(
        frame,
        flags(n, 1),
        no,
        price=frame["open"],
        size=np.inf,
        sl_stop=0.02,
        stop_entry_price="fillprice",
        stop_exit_price="stopmarket",
    )
    assert (ours.column("entry_bar")[0], ours.column("exit_bar")[0]) == (1, 1)
    assert ours.column("exit_price")[0] == pytest.approx(98.0)
    rec = pf.trades.values
    assert (rec["entry_idx"][0], rec["exit_idx"][0]) == (1, 2)
    assert rec["exit_price"][0] == pytest.approx(98.0)
