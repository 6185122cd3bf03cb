/*
 * TradPal indicator kernels: plain C loops over float64 arrays, loaded with ctypes.
 *
 * Conventions (TA-Lib's, see DESIGN.md): outputs have the input's length and a
 * kernel writes every element, NaN during the warm-up (so callers need not
 * pre-fill). Inputs hold no NaN (the Python layer validates and trims leading NaN).
 * No -ffast-math: the order of floating-point operations is part of the result
 * and fixed here. Sums, SMAs and seeds follow TA-Lib's order, except that the
 * sliding-window sums (SMA, WMA, Bollinger, rolling std, CMF, rolling VWAP) are
 * recomputed from the window whenever their rounding could show (see "stable
 * window sums" below); the smoothing
 * recursions are written as prev * a + x * b with a and b computed once, which
 * keeps one multiply-add on the loop-carried chain instead of TA-Lib's divide
 * (its own build reorders these too); results agree with TA-Lib to ~1e-15.
 *
 * The *_many kernels run several periods in one pass: independent recursions
 * advance side by side in blocks of LANES, so their latency chains overlap, and
 * shared inputs (gains and losses, true range) are computed once. Each lane
 * performs exactly the single-period kernel's operations, so every row equals
 * the single-period result bit for bit.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define LANES 4

/* NaN into o[from:to), clipped to [0, n). */
static void fill_nan(double *o, int64_t from, int64_t to, int64_t n)
{
    if (from < 0) from = 0;
    if (to > n) to = n;
    for (int64_t i = from; i < to; i++) o[i] = NAN;
}

/* Warm-up of `len` bars (all of them for an unusable parameter, len < 0). */
#define WARM(o, len) fill_nan((o), 0, (len) < 0 ? n : (len), n)

/* ---------------------------------------------------------------- checks -- */

/* Index of the first value that is not NaN (n when all are NaN). */
int64_t tp_lead_nan(const double *x, int64_t n)
{
    int64_t i = 0;
    while (i < n && isnan(x[i])) i++;
    return i;
}

/* Index of the first non-finite value at or after `start`, or -1. */
int64_t tp_first_bad(const double *x, int64_t n, int64_t start)
{
    const int64_t block = 512;
    for (int64_t b = start; b < n; b += block) {
        int64_t e = b + block < n ? b + block : n;
        /* x * 0 is 0 for finite x and NaN otherwise; eight independent sums so the
           loop vectorises, and NaN survives any order of addition */
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t i = b;
        for (; i + 8 <= e; i += 8)
            for (int j = 0; j < 8; j++) acc[j] += x[i + j] * 0.0;
        for (; i < e; i++) acc[0] += x[i] * 0.0;
        double total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        if (total != 0.0 || total != total) {
            for (int64_t i = b; i < e; i++)
                if (!isfinite(x[i])) return i;
        }
    }
    return -1;
}

/* ------------------------------------------------------ stable window sums -- */

/*
 * Sliding-window sums (add the value that enters, subtract the one that leaves)
 * cost O(1) a bar, but their rounding errors never leave the sum: they pile up
 * over the whole series, and a window whose sum, or spread about its mean, is
 * small against what passed through before is then mostly rounding noise (a
 * running sum of squares minus square of sums, TA-Lib's formula and the one used
 * here before, lost all digits of some period-2 Bollinger stds on ETH/BTC 5m).
 *
 * So each running sum here carries a first-order bound on its own rounding
 * error: every operation rounds by at most u = 2^-53 times its result, and the
 * kernel adds up the magnitudes its sums went through (acc). When the bound
 * exceeds 2^-36 (1.5e-11) of the value the window needs, the sums are recomputed
 * from the window itself with compensated (Neumaier) sums, at O(period) for that
 * bar. On market data an SMA's sum is recomputed about every 20,000 bars and the
 * centred sums of a std about every 5 * period bars (as the mean drifts from the
 * centre), a fraction of an operation a bar; a window of vanishing sum or spread
 * is recomputed whenever it needs it. The decision depends only on the data
 * (reproducible bit for bit, and the *_many kernels take the same decisions per
 * lane), and no threshold is absolute: scaling the input by a power of two
 * scales every sum and bound alike.
 *
 * A window sum moves by one difference, s += x[i] - x[i-period]: one addition
 * on the loop-carried chain (TA-Lib's add-then-subtract has two), and its error
 * grows by at most u (|x[i] - x[i-period]| + |s|) <= 3 u |s| + O(u^2), as the
 * difference is that of two consecutive sums. Means are taken as s * (1/period):
 * within an ulp of s / period and free of the divider's throughput limit.
 */
#define SUM_STALE 0x1p-15 /* 4 u / 2^-36: a sum s is stale when acc * SUM_STALE > |s| */

/* The recomputations are the rare path: kept out of line, so the loops stay small. */
#if defined(__GNUC__)
#define RARE __attribute__((noinline))
#else
#define RARE
#endif

/* Neumaier's compensated addition: s + c carries the sum to ~u (plus O(n u^2)). */
static inline void nsum(double *s, double *c, double a)
{
    double t = *s + a;
    *c += fabs(*s) >= fabs(a) ? (*s - t) + a : (a - t) + *s;
    *s = t;
}

/* sum(w[0:len]) with compensation. */
static inline double csum(const double *w, int64_t len)
{
    double s = 0.0, c = 0.0;
    for (int64_t j = 0; j < len; j++) nsum(&s, &c, w[j]);
    return s + c;
}

/* A sliding window sum and its rounding bound (acc: sum of |s| since computed afresh). */
typedef struct {
    double s, acc;
} wsum_t;

static RARE wsum_t ws_fresh(const double *w, int64_t period)
{
    wsum_t r = {csum(w, period), 0.0};
    r.acc = fabs(r.s);
    return r;
}

/* Move to the window w[0:period] (w[period-1] enters, w[-1] leaves); its sum. */
static inline double ws_slide(wsum_t *ws, const double *w, int64_t period)
{
    ws->s += w[period - 1] - w[-1];
    ws->acc += fabs(ws->s);
    if (ws->acc * SUM_STALE > fabs(ws->s)) *ws = ws_fresh(w, period);
    return ws->s;
}

/*
 * Mean and spread of a sliding window as sums of deviations about a shift k, the
 * window's mean when they were last computed from scratch: s1 = sum(x - k),
 * s2 = sum((x - k)^2), and sum((x - mean)^2) = s2 - s1 * (s1 / period) with
 * mean = k + s1 / period. Centred sums keep the cancellation to the drift of the
 * mean since k was set, not the price level (TA-Lib's mean of squares minus
 * squared mean cancels ~ (price / std)^2 digits). A bar moves s1 by
 * d = x_in - x_out and s2 by d * ((x_in - k) + (x_out - k)), the difference of
 * the two squares, with one addition on each chain.
 * Rounding bound, first order: 16 u (acc + steps * s2), acc the sum of s2 over
 * the moves since k was set and steps their count plus one; it covers the sums'
 * roundings, those of the moves (|d| (|x_in - k| + |x_out - k|) <= 2 (s2 + s2')),
 * of the final subtraction, and of s1 via |s1| <= sqrt(period * s2). Recomputed
 * when that exceeds 2^-36 of the spread sum, so the std is within ~1e-11
 * relative of the exact one (a fresh window's sums are good to a few u even for
 * an ulp-sized spread: k is within half an ulp of the mean, x - k is exact).
 */
typedef struct {
    double k, s1, s2, acc, steps;
} moments_t;

#define MOMENTS_STALE 0x1p-13 /* 16 u / 2^-36 */

/* The sums of the window w[0:period] from scratch (by value, so that the
   caller's state can stay in registers). */
static moments_t mo_fresh(const double *w, int64_t period)
{
    const double k = csum(w, period) / (double)period;
    double s1 = 0.0, c1 = 0.0, s2 = 0.0, c2 = 0.0;
    for (int64_t j = 0; j < period; j++) {
        double a = w[j] - k;
        nsum(&s1, &c1, a);
        nsum(&s2, &c2, a * a);
    }
    moments_t m = {k, s1 + c1, s2 + c2, 0.0, 1.0};
    m.acc = m.s2;
    return m;
}

/* The window moves one bar: xin enters, xout leaves. */
static inline void mo_slide(moments_t *m, double xin, double xout)
{
    double d = xin - xout;
    m->s1 += d;
    m->s2 += d * ((xin - m->k) + (xout - m->k));
    m->acc += fabs(m->s2);
    m->steps += 1.0;
}

/*
 * sum((x - mean)^2) of the window w[0:period] (inv = 1 / period) and mean - k in
 * *d; the sums are recomputed from the window first when their bound says so.
 */
static inline double mo_spread(moments_t *m, const double *w, int64_t period, double inv,
                               double *d)
{
    double dd = m->s1 * inv;
    double q = m->s2 - m->s1 * dd;
    if ((m->acc + m->steps * m->s2) * MOMENTS_STALE > q) {
        *m = mo_fresh(w, period);
        dd = m->s1 * inv;
        q = m->s2 - m->s1 * dd;
    }
    *d = dd;
    return q;
}

/*
 * Windows of up to SHORT values are computed directly, by two passes (corrected:
 * the mean's rounding drops out), which is exact to a few u and cheaper than
 * the sliding sums: their spread is so often tiny against the mean's drift
 * (a period-2 window recomputed every ~10 bars) that the checks cost more.
 */
#define SHORT 4

/* sum((x - mean)^2) of the window w[0:period], period <= SHORT; the mean in *mean. */
static inline double short_spread(const double *w, int64_t period, double inv, double *mean)
{
    double s = 0.0;
    for (int64_t j = 0; j < period; j++) s += w[j];
    const double m = s * inv;
    double s1 = 0.0, s2 = 0.0;
    for (int64_t j = 0; j < period; j++) {
        double d = w[j] - m;
        s1 += d;
        s2 += d * d;
    }
    double dd = s1 * inv;
    *mean = m + dd;
    return s2 - s1 * dd;
}

/* sum((x - mean)^2) of the window w[0:period] and its mean, by the right method. */
static inline double spread(moments_t *m, const double *w, int64_t period, double inv,
                            double *mean)
{
    if (period <= SHORT) return short_spread(w, period, inv, mean);
    double d, q = mo_spread(m, w, period, inv, &d);
    *mean = m->k + d;
    return q;
}

/* The window [i - period + 1, i] moves one bar (sliding sums only for long windows). */
static inline void slide(moments_t *m, const double *x, int64_t i, int64_t period)
{
    if (period > SHORT) mo_slide(m, x[i], x[i - period]);
}

/* --------------------------------------------------------- moving averages -- */

/*
 * Simple moving average: a window sum moved by one difference a bar and
 * recomputed when its rounding bound says so (wsum_t), so it stays within ~1e-11
 * of the window's own sum, however small that is against earlier windows (a
 * stretch without volume averages exactly 0).
 */
void tp_sma(const double *x, int64_t n, int64_t period, double *out)
{
    WARM(out, period < 1 ? -1 : period - 1);
    if (period < 1 || n < period) return;
    const double inv = 1.0 / (double)period;
    wsum_t ws = ws_fresh(x, period);
    out[period - 1] = ws.s * inv;
    for (int64_t i = period; i < n; i++) out[i] = ws_slide(&ws, x + i - period + 1, period) * inv;
}

/* SMA seed shared by EMA-type recursions: sum of x[0:period] in order, / period. */
static inline double seed_mean(const double *x, int64_t period)
{
    double s = 0.0;
    for (int64_t i = 0; i < period; i++) s += x[i];
    return s / (double)period;
}

/*
 * Exponential moving average seeded with the SMA of the first `period` values:
 * out[period-1] = mean(x[0:period]); out[i] = out[i-1] + k * (x[i] - out[i-1]).
 * computed as out[i] = out[i-1] * (1 - k) + x[i] * k; k = 2 / (period + 1).
 */
static inline double smooth(double prev, double x, double a, double b) { return prev * a + x * b; }

void tp_ema(const double *x, int64_t n, int64_t period, double k, double *out)
{
    WARM(out, period < 1 ? -1 : period - 1);
    if (period < 1 || n < period) return;
    const double a = 1.0 - k;
    double prev = seed_mean(x, period);
    out[period - 1] = prev;
    for (int64_t i = period; i < n; i++) {
        prev = smooth(prev, x[i], a, k);
        out[i] = prev;
    }
}

/*
 * Linearly weighted moving average (weights 1..period) in the running form: the
 * weighted sum gains period * the new value and loses the window's plain sum,
 * which moves by one difference a bar (one addition on each chain). An error of
 * the plain sum enters the weighted one again on every later bar (TA-Lib's form
 * drifted like n^1.5 over a series: 1.6e-8 relative after 200,000 bars), so both
 * are recomputed from the window with compensated sums every
 * R = max(256, 4 * period) bars: with X the largest |x| the last R windows read,
 * the error stays below u X (R^2 (period + 2) / 2 + R period (period + 7) / 2):
 * under 5e-12 of the weighted sum while the level stays near X (measured ~1e-13
 * on prices), on any length of series, at about one extra operation a bar. A
 * level that collapses by a factor F within R bars can show up to F times that
 * until the next recomputation (a per-bar bound as for the SMA caught it, but
 * cost 60 % more time).
 */
void tp_wma(const double *x, int64_t n, int64_t period, double *out)
{
    WARM(out, period < 1 ? -1 : period - 1);
    if (period < 1 || n < period) return;
    if (period == 1) {
        for (int64_t i = 0; i < n; i++) out[i] = x[i];
        return;
    }
    const double dp = (double)period, inv = 1.0 / (double)((period * (period + 1)) >> 1);
    const int64_t every = period > 64 ? 4 * period : 256;
    for (int64_t i = period - 1; i < n; i += every) {
        const double *w = x + i - period + 1;
        double s = 0.0, c = 0.0, ws = 0.0, wc = 0.0;
        for (int64_t j = 0; j < period; j++) {
            nsum(&s, &c, w[j]);
            nsum(&ws, &wc, w[j] * (double)(j + 1));
        }
        double sum = s + c, wsum = ws + wc; /* plain and weighted sums of the window */
        out[i] = wsum * inv;
        const int64_t end = i + every < n ? i + every : n;
        for (int64_t t = i + 1; t < end; t++) {
            wsum += x[t] * dp - sum;
            sum += x[t] - x[t - period];
            out[t] = wsum * inv;
        }
    }
}

/* ---------------------------------------------------------------- momentum -- */

/* One Wilder step of RSI's averages (a = (p-1)/p, b = 1/p), branch-free. */
static inline void rsi_step(double diff, double a, double b, double *gain, double *loss)
{
    double g = diff > 0.0 ? diff : 0.0;
    double l = diff < 0.0 ? -diff : 0.0;
    *loss = smooth(*loss, l, a, b);
    *gain = smooth(*gain, g, a, b);
}

/* Wilder's coefficients for `period`: a = (period - 1) / period, b = 1 / period. */
static inline double wilder_a(int64_t period) { return (double)(period - 1) / (double)period; }
static inline double wilder_b(int64_t period) { return 1.0 / (double)period; }

static inline double rsi_value(double gain, double loss)
{
    double s = gain + loss;
    /* a flat window has no gains and no losses: neutral 50 (TA-Lib: 0) */
    return s != 0.0 ? 100.0 * (gain / s) : 50.0;
}

/* Seed of RSI: mean gain and mean loss over the first `period` differences. */
static inline void rsi_seed(const double *x, int64_t period, double *gain, double *loss)
{
    double g = 0.0, l = 0.0;
    for (int64_t i = 1; i <= period; i++) {
        double d = x[i] - x[i - 1];
        if (d < 0.0) l -= d;
        else g += d;
    }
    *gain = g / (double)period;
    *loss = l / (double)period;
}

/* Wilder's RSI; first value at index `period`. */
void tp_rsi(const double *x, int64_t n, int64_t period, double *out)
{
    WARM(out, period < 1 ? -1 : period);
    if (period < 1 || n <= period) return;
    double gain, loss;
    const double a = wilder_a(period), b = wilder_b(period);
    rsi_seed(x, period, &gain, &loss);
    out[period] = rsi_value(gain, loss);
    for (int64_t i = period + 1; i < n; i++) {
        rsi_step(x[i] - x[i - 1], a, b, &gain, &loss);
        out[i] = rsi_value(gain, loss);
    }
}

/*
 * MACD as TA-Lib computes it: both EMAs start at index slow-1, the slow one
 * seeded with the SMA of x[0:slow], the fast one with the SMA of the last `fast`
 * values x[slow-fast:slow]. The signal is an EMA of the MACD line seeded with
 * the SMA of its first `signal` values; all outputs start at slow+signal-2.
 */
void tp_macd(const double *x, int64_t n, int64_t fast, int64_t slow, int64_t signal,
             double *macd, double *sig, double *hist)
{
    if (fast > slow) { int64_t t = fast; fast = slow; slow = t; }
    const int64_t warm = (fast < 1 || signal < 1) ? -1 : slow + signal - 2;
    WARM(macd, warm);
    WARM(sig, warm);
    WARM(hist, warm);
    if (fast < 1 || signal < 1 || n < slow + signal - 1) return;
    const double kf = 2.0 / ((double)(fast + 1)), ks = 2.0 / ((double)(slow + 1));
    const double kg = 2.0 / ((double)(signal + 1));
    double es = seed_mean(x, slow);
    double ef = seed_mean(x + slow - fast, fast);
    const int64_t start = slow + signal - 2;
    double ssum = 0.0, g = 0.0;
    for (int64_t i = slow - 1; i < n; i++) {
        if (i >= slow) {
            es = smooth(es, x[i], 1.0 - ks, ks);
            ef = smooth(ef, x[i], 1.0 - kf, kf);
        }
        double m = ef - es;
        if (i < start) {
            ssum += m;
            continue;
        }
        if (i == start) {
            ssum += m;
            g = ssum / (double)signal;
        } else {
            g = smooth(g, m, 1.0 - kg, kg);
        }
        macd[i] = m;
        sig[i] = g;
        hist[i] = m - g;
    }
}

/* ---------------------------------------------------------- rolling extrema -- */

/*
 * Highest high and lowest low of the window [i - period + 1, i], TA-Lib's way:
 * keep the extreme and its index, compare each new bar with it, and rescan the
 * window only when the extreme drops out of it (amortised O(1) per bar on
 * market data; O(period) per bar at worst, on a long monotone run).
 */
typedef struct {
    int64_t hi_idx, lo_idx;
    double hi, lo;
} extrema_t;

static inline void extrema_step(const double *h, const double *l, int64_t i, int64_t period,
                                extrema_t *e)
{
    const int64_t first = i - period + 1;
    if (e->hi_idx < first) {
        e->hi_idx = first;
        e->hi = h[first];
        for (int64_t t = first + 1; t <= i; t++)
            if (h[t] >= e->hi) { e->hi = h[t]; e->hi_idx = t; }
    } else if (h[i] >= e->hi) {
        e->hi = h[i];
        e->hi_idx = i;
    }
    if (e->lo_idx < first) {
        e->lo_idx = first;
        e->lo = l[first];
        for (int64_t t = first + 1; t <= i; t++)
            if (l[t] <= e->lo) { e->lo = l[t]; e->lo_idx = t; }
    } else if (l[i] <= e->lo) {
        e->lo = l[i];
        e->lo_idx = i;
    }
}

/* Williams %R over `period` bars; a flat window (high == low) gives -50. */
int tp_willr(const double *h, const double *l, const double *c, int64_t n, int64_t period,
             double *out)
{
    WARM(out, period < 1 ? -1 : period - 1);
    if (period < 1 || n < period) return 0;
    extrema_t e = {-1, -1, 0.0, 0.0};
    for (int64_t i = period - 1; i < n; i++) {
        extrema_step(h, l, i, period, &e);
        double diff = (e.hi - e.lo) / (-100.0);
        out[i] = diff != 0.0 ? (e.hi - c[i]) / diff : -50.0;
    }
    return 0;
}

/*
 * Slow stochastic: fast %K over `k` bars, slow %K = SMA(fast %K, smooth_k),
 * %D = SMA(slow %K, d). Both outputs start at k-1 + smooth_k-1 + d-1, as in
 * TA-Lib. A flat window (highest == lowest) gives a fast %K of 50 (TA-Lib: 0).
 * The two SMAs are running sums over small ring buffers, in one pass.
 */
int tp_stoch(const double *h, const double *l, const double *c, int64_t n, int64_t k,
             int64_t smooth_k, int64_t d, double *out_k, double *out_d)
{
    const int64_t start = k - 1 + smooth_k - 1 + d - 1;
    const int ok = k >= 1 && smooth_k >= 1 && d >= 1;
    WARM(out_k, ok ? start : -1);
    WARM(out_d, ok ? start : -1);
    if (!ok || n <= start) return 0;
    double *ring = (double *)malloc((size_t)(smooth_k + d) * sizeof(double));
    if (!ring) return -1;
    double *fast_ring = ring, *slow_ring = ring + smooth_k;
    double fsum = 0.0, ssum = 0.0;
    extrema_t e = {-1, -1, 0.0, 0.0};
    int64_t fpos = 0, spos = 0;
    for (int64_t i = k - 1; i < n; i++) {
        extrema_step(h, l, i, k, &e);
        double diff = (e.hi - e.lo) / 100.0;
        double fast = diff != 0.0 ? (c[i] - e.lo) / diff : 50.0;
        /* slow %K: mean of the last smooth_k fast values, from index k-1+smooth_k-1 */
        fsum += fast;
        if (i < k - 1 + smooth_k - 1) {
            fast_ring[fpos++] = fast;
            continue;
        }
        double slow = fsum / (double)smooth_k;
        if (smooth_k > 1) {
            fpos = fpos == smooth_k - 1 ? 0 : fpos;
            fsum -= fast_ring[fpos];
            fast_ring[fpos] = fast;
            fpos++;
        } else {
            fsum -= fast;
        }
        ssum += slow;
        if (i < start) {
            slow_ring[spos++] = slow;
            continue;
        }
        out_k[i] = slow;
        out_d[i] = ssum / (double)d;
        if (d > 1) {
            spos = spos == d - 1 ? 0 : spos;
            ssum -= slow_ring[spos];
            slow_ring[spos] = slow;
            spos++;
        } else {
            ssum -= slow;
        }
    }
    free(ring);
    return 0;
}

/* -------------------------------------------------------------- volatility -- */

/* True range for i >= 1, in TA-Lib's order of comparisons. */
static inline double true_range(double hi, double lo, double prev_close)
{
    double out = hi - lo;
    double t = fabs(hi - prev_close);
    if (t > out) out = t;
    t = fabs(lo - prev_close);
    if (t > out) out = t;
    return out;
}

void tp_trange(const double *h, const double *l, const double *c, int64_t n, double *out)
{
    WARM(out, 1);
    for (int64_t i = 1; i < n; i++) out[i] = true_range(h[i], l[i], c[i - 1]);
}

/* ATR seed: the SMA of tr[1..period], summed in order as TA-Lib's SMA does. */
static inline double atr_seed(const double *tr, int64_t period)
{
    double s = 0.0;
    for (int64_t i = 1; i <= period; i++) s += tr[i];
    return s / (double)period;
}

/* Average true range with Wilder's smoothing; first value at index `period`. */
void tp_atr(const double *h, const double *l, const double *c, int64_t n, int64_t period,
            double *out)
{
    if (period < 1 || n <= period) {
        WARM(out, -1);
        return;
    }
    /* the seed's true ranges go into `out` first, then become warm-up NaN */
    tp_trange(h, l, c, period + 1, out);
    const double a = wilder_a(period), b = wilder_b(period);
    double prev = atr_seed(out, period);
    WARM(out, period);
    out[period] = prev;
    for (int64_t i = period + 1; i < n; i++) {
        prev = smooth(prev, true_range(h[i], l[i], c[i - 1]), a, b);
        out[i] = prev;
    }
}

/*
 * Bollinger Bands: SMA middle band +- k population standard deviations, the mean
 * and spread of each window from centred sums (moments_t) instead of TA-Lib's
 * running mean of squares minus squared mean, which cancels catastrophically
 * when a window's spread is tiny against the price. A window whose values are all
 * equal has std exactly 0 and its middle band is that value.
 * Also bandwidth = (upper - lower) / middle and %B = (close - lower) / (upper - lower),
 * 0.5 when the bands coincide.
 */
static inline void bb_emit(double xi, double mid, double sd, double k, double *u, double *m,
                           double *lo, double *bw, double *pb)
{
    double t = sd * k;
    double up = mid + t, dn = mid - t;
    *u = up;
    *m = mid;
    *lo = dn;
    *bw = (up - dn) / mid;
    *pb = up != dn ? (xi - dn) / (up - dn) : 0.5;
}

/* One Bollinger bar of the window ending at i (flat: all its values equal). */
static inline void bb_bar(const double *x, int64_t i, int64_t period, double inv, int flat,
                          moments_t *m, double *mid, double *sd)
{
    if (flat) {
        *mid = x[i];
        *sd = 0.0;
        return;
    }
    double var = spread(m, x + i - period + 1, period, inv, mid) * inv;
    *sd = var > 0.0 ? sqrt(var) : 0.0;
}

void tp_bbands(const double *x, int64_t n, int64_t period, double k, double *upper,
               double *middle, double *lower, double *bandwidth, double *percent_b)
{
    const int64_t warm = period < 1 ? -1 : period - 1;
    WARM(upper, warm);
    WARM(middle, warm);
    WARM(lower, warm);
    WARM(bandwidth, warm);
    WARM(percent_b, warm);
    if (period < 1 || n < period) return;
    const double inv = 1.0 / (double)period;
    moments_t m = mo_fresh(x, period);
    int64_t run = 1; /* equal values ending at i */
    for (int64_t i = 1; i < period; i++) run = x[i] == x[i - 1] ? run + 1 : 1;
    for (int64_t i = period - 1; i < n; i++) {
        if (i >= period) {
            run = x[i] == x[i - 1] ? run + 1 : 1;
            slide(&m, x, i, period);
        }
        double mid, sd;
        bb_bar(x, i, period, inv, run >= period, &m, &mid, &sd);
        bb_emit(x[i], mid, sd, k, upper + i, middle + i, lower + i, bandwidth + i,
                percent_b + i);
    }
}

/*
 * Rolling standard deviation (ddof as given) of x over `period` values, from the
 * same centred sums as Bollinger's (moments_t); a window of equal values gives
 * exactly 0. out[i] covers x[i-period+1..i].
 */
void tp_rolling_std(const double *x, int64_t n, int64_t period, int64_t ddof, double *out)
{
    WARM(out, (period < 1 || period - ddof < 1) ? -1 : period - 1);
    if (period < 1 || n < period || period - ddof < 1) return;
    const double inv = 1.0 / (double)period, inv_dof = 1.0 / (double)(period - ddof);
    moments_t m = mo_fresh(x, period);
    int64_t run = 1;
    for (int64_t i = 1; i < period; i++) run = x[i] == x[i - 1] ? run + 1 : 1;
    for (int64_t i = period - 1; i < n; i++) {
        if (i >= period) {
            run = x[i] == x[i - 1] ? run + 1 : 1;
            slide(&m, x, i, period);
        }
        if (run >= period) {
            out[i] = 0.0;
            continue;
        }
        double mean, v = spread(&m, x + i - period + 1, period, inv, &mean) * inv_dof;
        out[i] = v > 0.0 ? sqrt(v) : 0.0;
    }
}

/*
 * ADX with +DI and -DI in one pass, TA-Lib's algorithm: DM and TR are summed
 * over the first period-1 bars, then smoothed as S = S - S/period + value.
 * +DI/-DI start at index `period`, ADX (Wilder average of DX) at 2*period-1.
 * A zero smoothed true range gives DI 0; where DX is undefined (both DI 0)
 * ADX keeps its previous value, as in TA-Lib.
 */
void tp_adx(const double *h, const double *l, const double *c, int64_t n, int64_t period,
            double *adx, double *pdi, double *mdi)
{
    WARM(adx, period < 1 ? -1 : 2 * period - 1);
    WARM(pdi, period < 1 ? -1 : period);
    WARM(mdi, period < 1 ? -1 : period);
    if (period < 1 || n <= period) return;
    const double p = (double)period, a = wilder_a(period), b = wilder_b(period);
    double pdm = 0.0, mdm = 0.0, tr = 0.0, sum_dx = 0.0, prev_adx = 0.0;
    for (int64_t i = 1; i < n; i++) {
        double diff_p = h[i] - h[i - 1];
        double diff_m = l[i - 1] - l[i];
        double t = true_range(h[i], l[i], c[i - 1]);
        /* Wilder sums: S = S * (1 - 1/period) + value (TA-Lib: S - S/period + value) */
        if (i >= period) {
            mdm *= a;
            pdm *= a;
            tr *= a;
        }
        if (diff_m > 0.0 && diff_p < diff_m) mdm += diff_m;
        else if (diff_p > 0.0 && diff_p > diff_m) pdm += diff_p;
        tr += t;
        if (i < period) continue;
        double plus = 0.0, minus = 0.0;
        if (tr != 0.0) {
            minus = 100.0 * (mdm / tr);
            plus = 100.0 * (pdm / tr);
        }
        pdi[i] = plus;
        mdi[i] = minus;
        double s = minus + plus;
        int defined = tr != 0.0 && s != 0.0;
        double dx = defined ? 100.0 * (fabs(minus - plus) / s) : 0.0;
        if (i < 2 * period - 1) {
            sum_dx += dx;
        } else if (i == 2 * period - 1) {
            sum_dx += dx;
            prev_adx = sum_dx / p;
            adx[i] = prev_adx;
        } else {
            if (defined) prev_adx = smooth(prev_adx, dx, a, b);
            adx[i] = prev_adx;
        }
    }
}

/* ------------------------------------------------------------------ volume -- */

/* On-balance volume starting at volume[0], as TA-Lib. */
void tp_obv(const double *c, const double *v, int64_t n, double *out)
{
    /* no warm-up */
    if (n < 1) return;
    double obv = v[0];
    out[0] = obv;
    for (int64_t i = 1; i < n; i++) {
        /* branch-free: obv + (-v) == obv - v and obv + 0.0 == obv exactly */
        double step = c[i] > c[i - 1] ? v[i] : (c[i] < c[i - 1] ? -v[i] : 0.0);
        obv += step;
        out[i] = obv;
    }
}

/* Money flow volume of one bar: ((close - low) - (high - close)) / (high - low) * volume. */
static inline double money_flow(double h, double l, double c, double v)
{
    double range = h - l;
    return range != 0.0 ? (((c - l) - (h - c)) / range) * v : 0.0;
}

/*
 * Chaikin money flow: sum(MFV, period) / sum(volume, period) with
 * MFV = ((close - low) - (high - close)) / (high - low) * volume, 0 when high == low.
 * A window without volume gives 0 (no money flowed). Both sums slide as in
 * wsum_t with one bound for the two (an error in either moves the ratio by about
 * error / volume sum) and are recomputed together: a window without volume after
 * traded ones sums to exactly 0, not to rounding residue.
 */
void tp_cmf(const double *h, const double *l, const double *c, const double *v, int64_t n,
            int64_t period, double *out)
{
    WARM(out, period < 1 ? -1 : period - 1);
    if (period < 1 || n < period) return;
    double sf = 0.0, sv = 0.0, acc = INFINITY; /* the first window is computed afresh */
    for (int64_t i = period - 1; i < n; i++) {
        const int64_t first = i - period + 1;
        if (i >= period) {
            const int64_t j = i - period;
            sf += money_flow(h[i], l[i], c[i], v[i]) - money_flow(h[j], l[j], c[j], v[j]);
            sv += v[i] - v[j];
        }
        acc += fabs(sf) + fabs(sv);
        if (acc * SUM_STALE > fabs(sv)) {
            double cf = 0.0, cv = 0.0;
            sf = sv = 0.0;
            for (int64_t j = first; j <= i; j++) {
                nsum(&sf, &cf, money_flow(h[j], l[j], c[j], v[j]));
                nsum(&sv, &cv, v[j]);
            }
            sf += cf;
            sv += cv;
            acc = fabs(sf) + fabs(sv);
        }
        out[i] = sv != 0.0 ? sf / sv : 0.0;
    }
}

/* Typical price (high + low + close) / 3. */
static inline double typical(double h, double l, double c) { return (h + l + c) / 3.0; }

/*
 * VWAP of the typical price over a rolling window of `period` bars; NaN without
 * volume. Price-volume and volume sums slide as in wsum_t, each with its bound
 * (the ratio's relative error is the sum of theirs), and are recomputed
 * together: a window without volume gives NaN, not a ratio of rounding residues.
 */
void tp_vwap_rolling(const double *h, const double *l, const double *c, const double *v,
                     int64_t n, int64_t period, double *out)
{
    WARM(out, period < 1 ? -1 : period - 1);
    if (period < 1 || n < period) return;
    double spv = 0.0, sv = 0.0, acc_pv = INFINITY, acc_v = INFINITY;
    for (int64_t i = period - 1; i < n; i++) {
        const int64_t first = i - period + 1;
        if (i >= period) {
            const int64_t j = i - period;
            spv += typical(h[i], l[i], c[i]) * v[i] - typical(h[j], l[j], c[j]) * v[j];
            sv += v[i] - v[j];
        }
        acc_pv += fabs(spv);
        acc_v += fabs(sv);
        if (acc_pv * SUM_STALE > fabs(spv) || acc_v * SUM_STALE > fabs(sv)) {
            double cpv = 0.0, cv = 0.0;
            spv = sv = 0.0;
            for (int64_t j = first; j <= i; j++) {
                nsum(&spv, &cpv, typical(h[j], l[j], c[j]) * v[j]);
                nsum(&sv, &cv, v[j]);
            }
            spv += cpv;
            sv += cv;
            acc_pv = fabs(spv);
            acc_v = fabs(sv);
        }
        out[i] = sv != 0.0 ? spv / sv : NAN;
    }
}

/* VWAP of the typical price accumulated since the start of each session. */
void tp_vwap_session(const double *h, const double *l, const double *c, const double *v,
                     const int64_t *session, int64_t n, double *out)
{
    double spv = 0.0, sv = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (i > 0 && session[i] != session[i - 1]) spv = sv = 0.0;
        spv += typical(h[i], l[i], c[i]) * v[i];
        sv += v[i];
        out[i] = sv != 0.0 ? spv / sv : NAN;
    }
}

/* ------------------------------------------------------------------ swings -- */

/*
 * Swing highs and lows with `width` bars on each side. Bar j is a swing high when
 * high[j] is greater than each of the `width` highs before it and not less than
 * each of the `width` highs after it (so of equal highs the first counts); a swing
 * low mirrors this on the lows. A swing is known only at bar j + width. For each
 * bar i the outputs hold the latest swing confirmed by then: its price and index
 * (-1 before the first). No look-ahead: nothing at i depends on bars after i.
 */
void tp_swings(const double *h, const double *l, int64_t n, int64_t width, double *sh_price,
               int64_t *sh_index, double *sl_price, int64_t *sl_index)
{
    double hp = NAN, lp = NAN;
    int64_t hi_idx = -1, lo_idx = -1;
    for (int64_t i = 0; i < n; i++) {
        int64_t j = i - width;
        if (j >= width) {
            int is_hi = 1, is_lo = 1;
            for (int64_t t = j - width; t < j && (is_hi || is_lo); t++) {
                if (!(h[j] > h[t])) is_hi = 0;
                if (!(l[j] < l[t])) is_lo = 0;
            }
            for (int64_t t = j + 1; t <= i && (is_hi || is_lo); t++) {
                if (!(h[j] >= h[t])) is_hi = 0;
                if (!(l[j] <= l[t])) is_lo = 0;
            }
            if (is_hi) { hp = h[j]; hi_idx = j; }
            if (is_lo) { lp = l[j]; lo_idx = j; }
        }
        sh_price[i] = hp;
        sh_index[i] = hi_idx;
        sl_price[i] = lp;
        sl_index[i] = lo_idx;
    }
}

/* ---------------------------------------------------------- many periods -- */

/*
 * Group the usable periods (1 <= p <= limit) into blocks of LANES; a short last
 * block repeats its last period (the lane recomputes the same row, harmlessly).
 * Returns the number of blocks; lanes[b*LANES + j] is a row number.
 */
static int64_t make_blocks(const int64_t *periods, int64_t m, int64_t limit, int64_t *lanes)
{
    int64_t used = 0;
    for (int64_t r = 0; r < m; r++)
        if (periods[r] >= 1 && periods[r] <= limit) lanes[used++] = r;
    if (used == 0) return 0;
    int64_t blocks = (used + LANES - 1) / LANES;
    for (int64_t j = used; j < blocks * LANES; j++) lanes[j] = lanes[used - 1];
    return blocks;
}

/* Every row's warm-up (lookback = period + shift) or, for an unusable period, all of it. */
static void many_warm(double *out, int64_t n, const int64_t *periods, int64_t m, int64_t limit,
                      int64_t shift)
{
    for (int64_t r = 0; r < m; r++) {
        int usable = periods[r] >= 1 && periods[r] <= limit;
        WARM(out + r * n, usable ? periods[r] + shift : -1);
    }
}

#define MANY_SETUP(limit, shift)                                                   \
    many_warm(out, n, periods, m, (limit), (shift));                              \
    int64_t *lanes = (int64_t *)malloc((size_t)(m + LANES) * sizeof(int64_t));     \
    if (!lanes) return -1;                                                        \
    int64_t blocks = make_blocks(periods, m, (limit), lanes)

/* SMA for each of `m` periods; out is m x n, row r for periods[r]. */
int tp_sma_many(const double *x, int64_t n, const int64_t *periods, int64_t m, double *out)
{
    MANY_SETUP(n, -1);
    for (int64_t b = 0; b < blocks; b++) {
        int64_t p[LANES], s = 0;
        double inv[LANES], *o[LANES];
        wsum_t ws[LANES];
        for (int j = 0; j < LANES; j++) {
            int64_t r = lanes[b * LANES + j];
            p[j] = periods[r];
            inv[j] = 1.0 / (double)p[j];
            o[j] = out + r * n;
            ws[j] = ws_fresh(x, p[j]);
            o[j][p[j] - 1] = ws[j].s * inv[j];
            if (p[j] > s) s = p[j];
        }
        /* each lane runs alone up to the block's longest warm-up, then all together */
        for (int j = 0; j < LANES; j++)
            for (int64_t i = p[j]; i < s; i++)
                o[j][i] = ws_slide(ws + j, x + i - p[j] + 1, p[j]) * inv[j];
        for (int64_t i = s; i < n; i++)
            for (int j = 0; j < LANES; j++)
                o[j][i] = ws_slide(ws + j, x + i - p[j] + 1, p[j]) * inv[j];
    }
    free(lanes);
    return 0;
}

/* EMA (SMA-seeded, k = 2 / (p + 1)) for each of `m` periods. */
int tp_ema_many(const double *x, int64_t n, const int64_t *periods, int64_t m, double *out)
{
    MANY_SETUP(n, -1);
    for (int64_t b = 0; b < blocks; b++) {
        int64_t p[LANES], s = 0;
        double prev[LANES], k[LANES], a[LANES], *o[LANES];
        for (int j = 0; j < LANES; j++) {
            int64_t r = lanes[b * LANES + j];
            p[j] = periods[r];
            k[j] = 2.0 / ((double)(p[j] + 1));
            a[j] = 1.0 - k[j];
            o[j] = out + r * n;
            prev[j] = seed_mean(x, p[j]);
            o[j][p[j] - 1] = prev[j];
            if (p[j] > s) s = p[j];
        }
        for (int j = 0; j < LANES; j++)
            for (int64_t i = p[j]; i < s; i++) {
                prev[j] = smooth(prev[j], x[i], a[j], k[j]);
                o[j][i] = prev[j];
            }
        for (int64_t i = s; i < n; i++) {
            double xi = x[i];
            for (int j = 0; j < LANES; j++) {
                prev[j] = smooth(prev[j], xi, a[j], k[j]);
                o[j][i] = prev[j];
            }
        }
    }
    free(lanes);
    return 0;
}

/* RSI for each of `m` periods; price differences are taken once. */
int tp_rsi_many(const double *x, int64_t n, const int64_t *periods, int64_t m, double *out)
{
    MANY_SETUP(n - 1, 0);
    double *diff = (double *)malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (!diff) { free(lanes); return -1; }
    for (int64_t i = 1; i < n; i++) diff[i] = x[i] - x[i - 1];
    for (int64_t b = 0; b < blocks; b++) {
        int64_t s = 0, p[LANES];
        double gain[LANES], loss[LANES], wb[LANES], wa[LANES], *o[LANES];
        for (int j = 0; j < LANES; j++) {
            int64_t r = lanes[b * LANES + j];
            p[j] = periods[r];
            wa[j] = wilder_a(p[j]);
            wb[j] = wilder_b(p[j]);
            o[j] = out + r * n;
            rsi_seed(x, p[j], gain + j, loss + j);
            o[j][p[j]] = rsi_value(gain[j], loss[j]);
            if (p[j] > s) s = p[j];
        }
        for (int j = 0; j < LANES; j++)
            for (int64_t i = p[j] + 1; i <= s; i++) {
                rsi_step(diff[i], wa[j], wb[j], gain + j, loss + j);
                o[j][i] = rsi_value(gain[j], loss[j]);
            }
        for (int64_t i = s + 1; i < n; i++) {
            double d = diff[i];
            for (int j = 0; j < LANES; j++) {
                rsi_step(d, wa[j], wb[j], gain + j, loss + j);
                o[j][i] = rsi_value(gain[j], loss[j]);
            }
        }
    }
    free(diff);
    free(lanes);
    return 0;
}

/* ATR for each of `m` periods; the true range is computed once. */
int tp_atr_many(const double *h, const double *l, const double *c, int64_t n,
                const int64_t *periods, int64_t m, double *out)
{
    MANY_SETUP(n - 1, 0);
    double *tr = (double *)malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (!tr) { free(lanes); return -1; }
    tp_trange(h, l, c, n, tr);
    for (int64_t b = 0; b < blocks; b++) {
        int64_t s = 0, p[LANES];
        double prev[LANES], wb[LANES], wa[LANES], *o[LANES];
        for (int j = 0; j < LANES; j++) {
            int64_t r = lanes[b * LANES + j];
            p[j] = periods[r];
            wa[j] = wilder_a(p[j]);
            wb[j] = wilder_b(p[j]);
            o[j] = out + r * n;
            prev[j] = atr_seed(tr, p[j]);
            o[j][p[j]] = prev[j];
            if (p[j] > s) s = p[j];
        }
        for (int j = 0; j < LANES; j++)
            for (int64_t i = p[j] + 1; i <= s; i++) {
                prev[j] = smooth(prev[j], tr[i], wa[j], wb[j]);
                o[j][i] = prev[j];
            }
        for (int64_t i = s + 1; i < n; i++) {
            double t = tr[i];
            for (int j = 0; j < LANES; j++) {
                prev[j] = smooth(prev[j], t, wa[j], wb[j]);
                o[j][i] = prev[j];
            }
        }
    }
    free(tr);
    free(lanes);
    return 0;
}

/* Bar i of one Bollinger lane: the same steps as tp_bbands (slide, then the bar). */
static inline void bb_many_bar(const double *x, int64_t i, int64_t p, double inv, int64_t run,
                               double k, moments_t *mo, int64_t off, double *const *outs)
{
    if (i >= p) slide(mo, x, i, p);
    double mid, sd;
    bb_bar(x, i, p, inv, run >= p, mo, &mid, &sd);
    const int64_t q = off + i;
    bb_emit(x[i], mid, sd, k, outs[0] + q, outs[1] + q, outs[2] + q, outs[3] + q, outs[4] + q);
}

/* Bollinger Bands for each of `m` periods with one multiplier; outputs are m x n each. */
int tp_bbands_many(const double *x, int64_t n, const int64_t *periods, int64_t m, double k,
                   double *upper, double *middle, double *lower, double *bandwidth,
                   double *percent_b)
{
    double *outs[5] = {upper, middle, lower, bandwidth, percent_b};
    for (int f = 1; f < 5; f++) many_warm(outs[f], n, periods, m, n, -1);
    double *out = upper;
    MANY_SETUP(n, -1);
    /* run[i]: how many equal values end at i, shared by every period */
    int64_t *run = (int64_t *)malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    if (!run) { free(lanes); return -1; }
    for (int64_t i = 0; i < n; i++) run[i] = (i > 0 && x[i] == x[i - 1]) ? run[i - 1] + 1 : 1;
    for (int64_t b = 0; b < blocks; b++) {
        int64_t p[LANES], off[LANES], s = 0;
        double inv[LANES];
        moments_t mo[LANES];
        for (int j = 0; j < LANES; j++) {
            int64_t r = lanes[b * LANES + j];
            p[j] = periods[r];
            inv[j] = 1.0 / (double)p[j];
            off[j] = r * n;
            mo[j] = mo_fresh(x, p[j]);
            if (p[j] > s) s = p[j];
        }
        /* each lane runs alone up to the block's longest warm-up, then all together */
        for (int j = 0; j < LANES; j++)
            for (int64_t i = p[j] - 1; i < s - 1; i++)
                bb_many_bar(x, i, p[j], inv[j], run[i], k, mo + j, off[j], outs);
        for (int64_t i = s - 1; i < n; i++)
            for (int j = 0; j < LANES; j++)
                bb_many_bar(x, i, p[j], inv[j], run[i], k, mo + j, off[j], outs);
    }
    free(run);
    free(lanes);
    return 0;
}

/* Natural log returns: out[i] = log(x[i] / x[i-1]) for i >= 1 (libm's log, not a SIMD one). */
void tp_log_returns(const double *x, int64_t n, double *out)
{
    WARM(out, 1);
    for (int64_t i = 1; i < n; i++) out[i] = log(x[i] / x[i - 1]);
}
