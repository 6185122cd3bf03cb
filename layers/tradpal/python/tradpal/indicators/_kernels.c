/*
 * TradPal indicator kernels: plain C loops over float64 arrays, loaded with ctypes.
 *
 * Conventions (TA-Lib's, see DESIGN.md): outputs have the input's length, the
 * caller pre-fills them with NaN, and a kernel writes only the bars past the
 * warm-up. Inputs hold no NaN (the Python layer validates and trims leading NaN).
 * No -ffast-math: the order of floating-point operations is part of the result.
 */
#include <stdint.h>
#include <math.h>

/* Simple moving average with a running sum, as TA-Lib computes it. */
void tp_sma(const double *x, int64_t n, int64_t period, double *out)
{
    if (period < 1 || n < period) return;
    double sum = 0.0;
    for (int64_t i = 0; i < period - 1; i++) sum += x[i];
    for (int64_t i = period - 1; i < n; i++) {
        sum += x[i];
        out[i] = sum / (double)period;
        sum -= x[i - period + 1];
    }
}

/*
 * Exponential moving average seeded with the SMA of the first `period` values:
 * out[period-1] = mean(x[0:period]); out[i] = out[i-1] + k * (x[i] - out[i-1]).
 * `k` is 2 / (period + 1) for EMA and 1 / period for Wilder's smoothing.
 */
void tp_ema(const double *x, int64_t n, int64_t period, double k, double *out)
{
    if (period < 1 || n < period) return;
    double prev = 0.0;
    for (int64_t i = 0; i < period; i++) prev += x[i];
    prev /= (double)period;
    out[period - 1] = prev;
    for (int64_t i = period; i < n; i++) {
        prev = ((x[i] - prev) * k) + prev;
        out[i] = prev;
    }
}
