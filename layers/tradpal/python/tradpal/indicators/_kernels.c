/*
 * TradPal indicator kernels: plain C loops over float64 arrays, loaded with ctypes.
 *
 * Conventions (TA-Lib's, see DESIGN.md): outputs have the input's length and a
 * kernel writes every element, NaN during the warm-up (so callers need not
 * pre-fill). Inputs hold no NaN (the Python layer validates and trims leading NaN).
 * No -ffast-math: the order of floating-point operations is part of the result
 * and fixed here. Sums, SMAs and seeds follow TA-Lib's order; the smoothing
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

/* --------------------------------------------------------- moving averages -- */

/* Simple moving average with a running sum, as TA-Lib computes it. */
void tp_sma(const double *x, int64_t n, int64_t period, double *out)
{
    WARM(out, period < 1 ? -1 : period - 1);
    if (period < 1 || n < period) return;
    double sum = 0.0;
    for (int64_t i = 0; i < period - 1; i++) sum += x[i];
    for (int64_t i = period - 1; i < n; i++) {
        sum += x[i];
        out[i] = sum / (double)period;
        sum -= x[i - period + 1];
    }
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

/* Linearly weighted moving average (weights 1..period), TA-Lib's running form. */
void tp_wma(const double *x, int64_t n, int64_t period, double *out)
{
    WARM(out, period < 1 ? -1 : period - 1);
    if (period < 1 || n < period) return;
    if (period == 1) {
        for (int64_t i = 0; i < n; i++) out[i] = x[i];
        return;
    }
    const double divider = (double)((period * (period + 1)) >> 1);
    double sub = 0.0, sum = 0.0, trailing_value = 0.0;
    int64_t i = 0, trailing = 0;
    for (int64_t w = 1; i < period - 1; i++, w++) {
        sub += x[i];
        sum += x[i] * (double)w;
    }
    for (; i < n; i++) {
        sub += x[i];
        sub -= trailing_value;
        sum += x[i] * (double)period;
        trailing_value = x[trailing++];
        out[i] = sum / divider;
        sum -= sub;
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
 * Bollinger Bands with TA-Lib's arithmetic: SMA middle band from a running sum,
 * variance = running mean of squares - middle^2 (population), std = sqrt of a
 * positive variance, else 0. A window whose values are all equal has std 0
 * exactly (the running sums would leave rounding noise there).
 * Also bandwidth = (upper - lower) / middle and %B = (close - lower) / (upper - lower),
 * 0.5 when the bands coincide.
 */
static inline void bb_emit(double xi, double mid, double var, int flat, double k, double *u,
                           double *m, double *lo, double *bw, double *pb)
{
    double sd = (!flat && var > 0.0) ? sqrt(var) : 0.0;
    double t = sd * k;
    double up = mid + t, dn = mid - t;
    *u = up;
    *m = mid;
    *lo = dn;
    *bw = (up - dn) / mid;
    *pb = up != dn ? (xi - dn) / (up - dn) : 0.5;
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
    double sum = 0.0, sum2 = 0.0;
    int64_t run = 0;
    for (int64_t i = 0; i < period - 1; i++) {
        sum += x[i];
        sum2 += x[i] * x[i];
        run = (i > 0 && x[i] == x[i - 1]) ? run + 1 : 1;
    }
    for (int64_t i = period - 1; i < n; i++) {
        run = (i > 0 && x[i] == x[i - 1]) ? run + 1 : 1;
        sum += x[i];
        double mid = sum / (double)period;
        sum -= x[i - period + 1];
        sum2 += x[i] * x[i];
        double mean2 = sum2 / (double)period;
        sum2 -= x[i - period + 1] * x[i - period + 1];
        double var = mean2 - mid * mid;
        bb_emit(x[i], mid, var, run >= period, k, upper + i, middle + i, lower + i,
                bandwidth + i, percent_b + i);
    }
}

/*
 * Rolling standard deviation (ddof as given) of x over `period` values, by a
 * windowed Welford update; a window of equal values gives exactly 0.
 * out[i] covers x[i-period+1..i].
 */
void tp_rolling_std(const double *x, int64_t n, int64_t period, int64_t ddof, double *out)
{
    WARM(out, (period < 1 || period - ddof < 1) ? -1 : period - 1);
    if (period < 1 || n < period || period - ddof < 1) return;
    double mean = 0.0, m2 = 0.0;
    int64_t run = 0;
    for (int64_t i = 0; i < n; i++) {
        run = (i > 0 && x[i] == x[i - 1]) ? run + 1 : 1;
        if (i < period) {
            double dlt = x[i] - mean;
            mean += dlt / (double)(i + 1);
            m2 += dlt * (x[i] - mean);
        } else {
            /* replace x[i-period] by x[i] in a window of constant size */
            double old = x[i - period];
            double old_mean = mean;
            mean += (x[i] - old) / (double)period;
            m2 += (x[i] - old) * ((x[i] - mean) + (old - old_mean));
        }
        if (i >= period - 1) {
            double v = m2 / (double)(period - ddof);
            out[i] = (run >= period || v <= 0.0) ? 0.0 : sqrt(v);
        }
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

/*
 * Chaikin money flow: sum(MFV, period) / sum(volume, period) with
 * MFV = ((close - low) - (high - close)) / (high - low) * volume, 0 when high == low.
 * A window without volume gives 0 (no money flowed).
 */
void tp_cmf(const double *h, const double *l, const double *c, const double *v, int64_t n,
            int64_t period, double *out)
{
    WARM(out, period < 1 ? -1 : period - 1);
    if (period < 1 || n < period) return;
    double smf = 0.0, sv = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double range = h[i] - l[i];
        double mfv = range != 0.0 ? (((c[i] - l[i]) - (h[i] - c[i])) / range) * v[i] : 0.0;
        smf += mfv;
        sv += v[i];
        if (i >= period - 1) {
            out[i] = sv != 0.0 ? smf / sv : 0.0;
            int64_t j = i - period + 1;
            double rj = h[j] - l[j];
            smf -= rj != 0.0 ? (((c[j] - l[j]) - (h[j] - c[j])) / rj) * v[j] : 0.0;
            sv -= v[j];
        }
    }
}

/* Typical price (high + low + close) / 3. */
static inline double typical(double h, double l, double c) { return (h + l + c) / 3.0; }

/* VWAP of the typical price over a rolling window of `period` bars; NaN without volume. */
void tp_vwap_rolling(const double *h, const double *l, const double *c, const double *v,
                     int64_t n, int64_t period, double *out)
{
    WARM(out, period < 1 ? -1 : period - 1);
    if (period < 1 || n < period) return;
    double spv = 0.0, sv = 0.0;
    for (int64_t i = 0; i < n; i++) {
        spv += typical(h[i], l[i], c[i]) * v[i];
        sv += v[i];
        if (i >= period - 1) {
            out[i] = sv != 0.0 ? spv / sv : NAN;
            int64_t j = i - period + 1;
            spv -= typical(h[j], l[j], c[j]) * v[j];
            sv -= v[j];
        }
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
        double sum[LANES], dp[LANES], *o[LANES];
        for (int j = 0; j < LANES; j++) {
            int64_t r = lanes[b * LANES + j];
            p[j] = periods[r];
            dp[j] = (double)p[j];
            o[j] = out + r * n;
            sum[j] = 0.0;
            for (int64_t i = 0; i < p[j] - 1; i++) sum[j] += x[i];
            if (p[j] > s) s = p[j];
        }
        /* each lane runs alone up to the block's longest warm-up, then all together */
        for (int j = 0; j < LANES; j++)
            for (int64_t i = p[j] - 1; i < s - 1; i++) {
                sum[j] += x[i];
                o[j][i] = sum[j] / dp[j];
                sum[j] -= x[i - p[j] + 1];
            }
        for (int64_t i = s - 1; i < n; i++) {
            double xi = x[i];
            for (int j = 0; j < LANES; j++) {
                sum[j] += xi;
                o[j][i] = sum[j] / dp[j];
                sum[j] -= x[i - p[j] + 1];
            }
        }
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
        int64_t p[LANES], off[LANES];
        double sum[LANES], sum2[LANES], dp[LANES];
        for (int j = 0; j < LANES; j++) {
            int64_t r = lanes[b * LANES + j];
            p[j] = periods[r];
            dp[j] = (double)p[j];
            off[j] = r * n;
            sum[j] = sum2[j] = 0.0;
            for (int64_t i = 0; i < p[j] - 1; i++) {
                sum[j] += x[i];
                sum2[j] += x[i] * x[i];
            }
        }
        for (int64_t i = 0; i < n; i++) {
            double xi = x[i];
            for (int j = 0; j < LANES; j++) {
                if (i < p[j] - 1) continue;
                sum[j] += xi;
                double mid = sum[j] / dp[j];
                double xo = x[i - p[j] + 1];
                sum[j] -= xo;
                sum2[j] += xi * xi;
                double mean2 = sum2[j] / dp[j];
                sum2[j] -= xo * xo;
                double var = mean2 - mid * mid;
                int64_t q = off[j] + i;
                bb_emit(xi, mid, var, run[i] >= p[j], k, upper + q, middle + q,
                        lower + q, bandwidth + q, percent_b + q);
            }
        }
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
