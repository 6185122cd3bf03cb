/*
 * TradPal backtest engine: one bar-by-bar simulation of one position, loaded with ctypes.
 *
 * The rules are written out in tradpal/backtest/engine.py (module docstring); this file
 * implements them and nothing else. In short, for each bar t:
 *
 *   fill "next_open": first the order decided at the close of t-1 fills at open[t];
 *   protective exits (stop, target, trailing stop, liquidation) are checked against
 *     open/high/low of t for a position opened before t (close fills) or at the open of t
 *     (next-open fills); a gap past a level fills at the open; stop before target;
 *   the trailing reference then takes high[t] (long) / low[t] (short);
 *   a time stop closes at close[t] once t - entry bar >= time_stop;
 *   the drawdown guard sees the equity marked at close[t];
 *   unless a protective exit fired in bar t, the signals of t act: at close[t] (close
 *     fills) or at open[t+1] (next-open fills).
 *
 * Money: cash and a signed quantity; equity = cash + quantity * price. Buying costs
 * quantity * fill * (1 + fees); selling brings quantity * fill * (1 - fees). Slippage moves
 * market fills against the trader (buy at price * (1 + s), sell at price * (1 - s));
 * targets are limit orders and fill at their level (or at a better open) without it.
 * No -ffast-math: the order of operations is part of the result.
 */
#include <math.h>
#include <stdint.h>

enum { SIZE_ALL = 0, SIZE_FRACTION = 1, SIZE_QTY = 2, SIZE_RISK = 3, SIZE_KELLY = 4 };
enum { RULE_NONE = 0, RULE_PCT = 1, RULE_ATR = 2 };
enum {
    R_SIGNAL = 0, R_STOP = 1, R_TARGET = 2, R_TRAILING = 3, R_TIME = 4, R_REVERSE = 5,
    R_END = 6, R_LIQUIDATION = 7
};
enum { ACT_NONE = 0, ACT_CLOSE = 1, ACT_LONG = 2, ACT_SHORT = 3 };
enum { SKIP_GUARD = 0, SKIP_NO_LEVEL = 1, SKIP_BAD_LEVEL = 2, SKIP_NO_SIZE = 3 };

/* Trade ledger: one row of TRADE_COLS doubles per trade. */
enum {
    T_ENTRY_BAR = 0, T_EXIT_BAR, T_SIDE, T_QTY, T_ENTRY_PRICE, T_EXIT_PRICE, T_FEES, T_PNL,
    T_RETURN, T_REASON, T_STOP, T_TARGET, TRADE_COLS
};

#define KELLY_MIN_TRADES 10

typedef struct {
    double capital, fees, slippage;
    int64_t next_open;
    int64_t sizing_kind;
    double sizing_value;
    int64_t sl_kind;
    double sl_value;
    int64_t tp_kind;
    double tp_value;
    int64_t trail_kind;
    double trail_value;
    int64_t time_stop;      /* 0 = none */
    double max_leverage;
    double max_notional;    /* +inf = none */
    int64_t allow_short;
    double max_drawdown;    /* NaN = no guard */
    double target_vol;      /* NaN = no volatility clamp */
} tp_bt_config;

typedef struct {
    int64_t n_trades;
    int64_t bars_in_market;
    int64_t guard_bar;      /* bar at whose close the guard tripped, -1 = never */
    int64_t skipped[4];     /* entries skipped: guard, no level, level on the wrong side, size 0 */
    double final_cash;
    double final_position;
} tp_bt_summary;

typedef struct {
    double cash, pos;       /* pos > 0 long, < 0 short */
    int64_t entry_bar;
    double entry_price, entry_fee, stop, target, trail_dist, trail_ref;
    int64_t trail_kind;
    double peak;            /* drawdown guard */
    int guard_tripped;
    int64_t n_win, n_loss, n_closed;
    double sum_win, sum_loss;
} state_t;

/* The drawdown guard: the same rule as tradpal.risk.DrawdownGuard.update. */
static void guard_update(state_t *s, const tp_bt_config *c, double equity, int64_t bar,
                         tp_bt_summary *out)
{
    if (equity > s->peak) s->peak = equity;
    if (!s->guard_tripped && !isnan(c->max_drawdown) &&
        equity <= s->peak * (1.0 - c->max_drawdown)) {
        s->guard_tripped = 1;
        out->guard_bar = bar;
    }
}

/* Close the whole position at `fill` (slippage already applied by the caller). */
static void close_position(state_t *s, const tp_bt_config *c, double fill, int64_t bar,
                           int64_t reason, double *trades, tp_bt_summary *out)
{
    double qty = fabs(s->pos);
    double value = qty * fill;
    double fee = value * c->fees;
    double entry_value = qty * s->entry_price;
    double pnl;
    if (s->pos > 0) {
        s->cash += value - fee;
        pnl = (value - entry_value) - s->entry_fee - fee;
    } else {
        s->cash -= value + fee;
        pnl = (entry_value - value) - s->entry_fee - fee;
    }
    if (s->cash < 0.0) {
        /* Flat, cash is equity: a loss past zero (a gap through the liquidation level) is
           written off, as an exchange's insurance fund does; the account ends at 0. */
        pnl -= s->cash;
        s->cash = 0.0;
    }
    double *row = trades + out->n_trades * TRADE_COLS;
    row[T_EXIT_BAR] = (double)bar;
    row[T_EXIT_PRICE] = fill;
    row[T_FEES] = s->entry_fee + fee;
    row[T_PNL] = pnl;
    row[T_RETURN] = pnl / entry_value;
    row[T_REASON] = (double)reason;
    out->n_trades++;
    double ret = row[T_RETURN];
    s->n_closed++;
    if (pnl > 0) { s->n_win++; s->sum_win += ret; }
    else if (pnl < 0) { s->n_loss++; s->sum_loss += ret; }
    s->pos = 0.0;
}

/* Kelly fraction from the trades closed so far, clamped to [0, cap] (see tradpal.risk). */
static double running_kelly(const state_t *s, double cap)
{
    if (s->n_closed < KELLY_MIN_TRADES) return cap;
    if (s->n_win == 0) return 0.0;
    double w = (double)s->n_win / (double)s->n_closed;
    if (s->n_loss == 0) return w < cap ? w : cap;
    double r = (s->sum_win / (double)s->n_win) / (-s->sum_loss / (double)s->n_loss);
    double k = w - (1.0 - w) / r;
    if (k < 0.0) return 0.0;
    return k < cap ? k : cap;
}

/* Open a position of `side` (+1 long, -1 short) at the market price `price` (before
   slippage), deciding from the signal bar `sig`. Returns 1 when a position was opened. */
static int open_position(state_t *s, const tp_bt_config *c, int side, double price,
                         int64_t bar, int64_t sig, const double *stop_px,
                         const double *target_px, const double *atr, const double *vol,
                         double *trades, int64_t capacity, tp_bt_summary *out)
{
    if (s->guard_tripped) { out->skipped[SKIP_GUARD]++; return 0; }
    double fill = side > 0 ? price * (1.0 + c->slippage) : price * (1.0 - c->slippage);
    double a = atr ? atr[sig] : NAN;

    /* levels: the signal's absolute prices override the configured rules */
    double stop = NAN, target = NAN, trail_dist = NAN;
    int need_level = 0;
    if (stop_px && !isnan(stop_px[sig])) stop = stop_px[sig];
    else if (c->sl_kind == RULE_PCT) stop = fill * (1.0 - side * c->sl_value);
    else if (c->sl_kind == RULE_ATR) { stop = fill - side * (c->sl_value * a); need_level = 1; }
    if (target_px && !isnan(target_px[sig])) target = target_px[sig];
    else if (c->tp_kind == RULE_PCT) target = fill * (1.0 + side * c->tp_value);
    else if (c->tp_kind == RULE_ATR) { target = fill + side * (c->tp_value * a); need_level = 1; }
    if (c->trail_kind == RULE_PCT) trail_dist = c->trail_value;
    else if (c->trail_kind == RULE_ATR) { trail_dist = c->trail_value * a; need_level = 1; }
    if (need_level && isnan(a)) { out->skipped[SKIP_NO_LEVEL]++; return 0; }
    if (c->sizing_kind == SIZE_RISK && isnan(stop)) { out->skipped[SKIP_NO_LEVEL]++; return 0; }
    if ((!isnan(stop) && side * (fill - stop) <= 0.0) ||
        (!isnan(target) && side * (target - fill) <= 0.0)) {
        out->skipped[SKIP_BAD_LEVEL]++;
        return 0;
    }

    double equity = s->cash; /* flat here: equity is cash */
    double lev = c->max_leverage;
    if (!isnan(c->target_vol)) {
        /* volatility clamp (tradpal.risk.leverage_cap); before the estimate exists, 1x */
        double v = vol ? vol[sig] : NAN;
        double cap = (isnan(v) || v <= 0.0) ? 1.0 : c->target_vol / v;
        if (cap < lev) lev = cap;
    }
    double max_value = lev * equity / (1.0 + c->fees);
    if (max_value > c->max_notional) max_value = c->max_notional;

    double qty;
    switch (c->sizing_kind) {
    case SIZE_ALL: qty = (equity / (1.0 + c->fees)) / fill; break;
    case SIZE_FRACTION: qty = c->sizing_value * equity / fill; break;
    case SIZE_QTY: qty = c->sizing_value; break;
    case SIZE_RISK: qty = c->sizing_value * equity / fabs(fill - stop); break;
    default: qty = running_kelly(s, c->sizing_value) * equity / fill; break;
    }
    if (qty * fill > max_value) qty = max_value / fill;
    if (!(qty > 0.0) || !isfinite(qty) || equity <= 0.0) {
        out->skipped[SKIP_NO_SIZE]++;
        return 0;
    }
    if (out->n_trades >= capacity) return -1;

    double value = qty * fill;
    double fee = value * c->fees;
    if (side > 0) s->cash -= value + fee;
    else s->cash += value - fee;
    s->pos = side * qty;
    s->entry_bar = bar;
    s->entry_price = fill;
    s->entry_fee = fee;
    s->stop = stop;
    s->target = target;
    s->trail_kind = c->trail_kind;
    s->trail_dist = trail_dist;
    s->trail_ref = fill;

    double *row = trades + out->n_trades * TRADE_COLS;
    row[T_ENTRY_BAR] = (double)bar;
    row[T_SIDE] = (double)side;
    row[T_QTY] = qty;
    row[T_ENTRY_PRICE] = fill;
    row[T_STOP] = stop;
    row[T_TARGET] = target;
    return 1;
}

/* The protective level that would be hit first on the adverse side, and its reason. */
static double adverse_level(const state_t *s, int side, int64_t *reason)
{
    double level = NAN;
    *reason = R_STOP;
    if (!isnan(s->stop)) level = s->stop;
    if (s->trail_kind != RULE_NONE) {
        double t = s->trail_kind == RULE_PCT ? s->trail_ref * (1.0 - side * s->trail_dist)
                                              : s->trail_ref - side * s->trail_dist;
        if (isnan(level) || side * (t - level) > 0.0) { level = t; *reason = R_TRAILING; }
    }
    /* liquidation: the price at which equity (cash + pos * price) reaches zero */
    double liq = -s->cash / s->pos;
    if (liq > 0.0 && (isnan(level) || side * (liq - level) > 0.0)) {
        level = liq;
        *reason = R_LIQUIDATION;
    }
    return level;
}

/* Check stop, trailing stop, liquidation and target within bar t. Returns 1 on exit. */
static int protective_exit(state_t *s, const tp_bt_config *c, double o, double h, double l,
                           int64_t t, double *trades, tp_bt_summary *out)
{
    int side = s->pos > 0 ? 1 : -1;
    int64_t reason;
    double adv = adverse_level(s, side, &reason);
    double tgt = s->target;
    /* in the long frame: adverse levels below, the target above */
    double so = side * o, sh = side > 0 ? h : -l, sl = side > 0 ? l : -h;
    double sadv = side * adv, stgt = side * tgt;
    double fill;
    if (!isnan(adv) && so <= sadv) {
        fill = o;  /* opened through the stop: the stop order fills at the open */
    } else if (!isnan(tgt) && so >= stgt) {
        fill = o;  /* opened through the target: the limit order fills at the better open */
        reason = R_TARGET;
    } else if (!isnan(adv) && sl <= sadv) {
        fill = adv;  /* both touched in one bar: the stop is assumed first */
    } else if (!isnan(tgt) && sh >= stgt) {
        fill = tgt;
        reason = R_TARGET;
    } else {
        return 0;
    }
    if (reason != R_TARGET) fill = side > 0 ? fill * (1.0 - c->slippage) : fill * (1.0 + c->slippage);
    close_position(s, c, fill, t, reason, trades, out);
    return 1;
}

/* What the signals of bar t ask for, given the position then. */
static int resolve(const state_t *s, const tp_bt_config *c, int le, int lx, int se, int sx,
                   int64_t *close_reason)
{
    if (le && lx) le = lx = 0;  /* contradictory signals on one side are ignored */
    if (se && sx) se = sx = 0;
    if (le && se) le = se = 0;
    *close_reason = R_SIGNAL;
    if (s->pos > 0) {
        if (se) { *close_reason = c->allow_short ? R_REVERSE : R_SIGNAL;
                  return c->allow_short ? ACT_SHORT : ACT_CLOSE; }
        return lx ? ACT_CLOSE : ACT_NONE;
    }
    if (s->pos < 0) {
        if (le) { *close_reason = R_REVERSE; return ACT_LONG; }
        return sx ? ACT_CLOSE : ACT_NONE;
    }
    if (le) return ACT_LONG;
    if (se && c->allow_short) return ACT_SHORT;
    return ACT_NONE;
}

/* Carry out `act` at market price `price` in bar t (decided at signal bar sig). */
static int act_at(state_t *s, const tp_bt_config *c, int act, int64_t close_reason,
                  double price, int64_t t, int64_t sig, const double *stop_px,
                  const double *target_px, const double *atr, const double *vol,
                  double *trades, int64_t capacity, tp_bt_summary *out)
{
    if (act == ACT_NONE) return 0;
    if (s->pos != 0.0) {
        double fill = s->pos > 0 ? price * (1.0 - c->slippage) : price * (1.0 + c->slippage);
        close_position(s, c, fill, t, close_reason, trades, out);
    }
    if (act == ACT_CLOSE) return 0;
    int r = open_position(s, c, act == ACT_LONG ? 1 : -1, price, t, sig, stop_px, target_px, atr,
                          vol, trades, capacity, out);
    return r < 0 ? -1 : 0;
}

/*
 * Run the simulation. Flags are 0/1 bytes; stop_px, target_px, atr and vol may be NULL.
 * equity[n] receives the equity marked at each close; trades[capacity * TRADE_COLS] the
 * ledger (an open position at the end is listed with reason END, marked at the last close
 * without exit costs). Returns 0, or -1 when the ledger capacity is too small.
 */
int tp_backtest(const double *open, const double *high, const double *low, const double *close,
                const uint8_t *le, const uint8_t *lx, const uint8_t *se, const uint8_t *sx,
                const double *stop_px, const double *target_px, const double *atr,
                const double *vol, int64_t n, const tp_bt_config *c, double *equity,
                double *trades, int64_t capacity, tp_bt_summary *out)
{
    state_t s = {0};
    s.cash = c->capital;
    s.peak = c->capital;
    out->n_trades = 0;
    out->bars_in_market = 0;
    out->guard_bar = -1;
    for (int k = 0; k < 4; k++) out->skipped[k] = 0;

    int pending = ACT_NONE;
    int64_t pending_reason = R_SIGNAL;
    for (int64_t t = 0; t < n; t++) {
        if (c->next_open && pending != ACT_NONE) {
            if (act_at(&s, c, pending, pending_reason, open[t], t, t - 1, stop_px, target_px,
                       atr, vol, trades, capacity, out) < 0)
                return -1;
            pending = ACT_NONE;
        }
        int protective = 0;
        if (s.pos != 0.0 && (s.entry_bar < t || c->next_open)) {
            protective = protective_exit(&s, c, open[t], high[t], low[t], t, trades, out);
            if (!protective) {
                /* after the check: a bar's own extreme may have come after its low/high */
                if (s.pos > 0 && high[t] > s.trail_ref) s.trail_ref = high[t];
                if (s.pos < 0 && low[t] < s.trail_ref) s.trail_ref = low[t];
            }
        }
        if (s.pos != 0.0 && c->time_stop > 0 && t - s.entry_bar >= c->time_stop) {
            double fill = s.pos > 0 ? close[t] * (1.0 - c->slippage) : close[t] * (1.0 + c->slippage);
            close_position(&s, c, fill, t, R_TIME, trades, out);
            protective = 1;
        }
        guard_update(&s, c, s.cash + s.pos * close[t], t, out);
        if (!protective) {
            int64_t reason;
            int act = resolve(&s, c, le[t], lx[t], se[t], sx[t], &reason);
            if (c->next_open) {
                pending = t + 1 < n ? act : ACT_NONE;
                pending_reason = reason;
            } else if (act_at(&s, c, act, reason, close[t], t, t, stop_px, target_px, atr, vol,
                              trades, capacity, out) < 0) {
                return -1;
            }
        }
        equity[t] = s.cash + s.pos * close[t];
        guard_update(&s, c, equity[t], t, out);
        if (s.pos != 0.0) out->bars_in_market++;
    }
    if (s.pos != 0.0 && n > 0) {
        /* marked, not sold: no exit fee or slippage, so the ledger matches the equity */
        double qty = fabs(s.pos), value = qty * close[n - 1], entry_value = qty * s.entry_price;
        double pnl = (s.pos > 0 ? value - entry_value : entry_value - value) - s.entry_fee;
        double *row = trades + out->n_trades * TRADE_COLS;
        row[T_EXIT_BAR] = (double)(n - 1);
        row[T_EXIT_PRICE] = close[n - 1];
        row[T_FEES] = s.entry_fee;
        row[T_PNL] = pnl;
        row[T_RETURN] = pnl / entry_value;
        row[T_REASON] = (double)R_END;
        out->n_trades++;
    }
    out->final_cash = s.cash;
    out->final_position = s.pos;
    return 0;
}
