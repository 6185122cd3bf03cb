"""Build configuration for the compiled indicator kernels.

Everything else lives in pyproject.toml. The kernels are plain C (no Python
API): the library loads them with ctypes, so one shared object serves every
Python version, and a fresh process pays no JIT compilation (Lambda cold start).
Compiled without -ffast-math so that floating-point operations keep their order
and results are reproducible bit for bit.
"""

from setuptools import Extension, setup

# -ffp-contract=off: no fused multiply-add, so every compiler and CPU (x86_64, Graviton)
# rounds the same way and results stay bit-identical.
FLAGS = ["-O3", "-std=c11", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wextra"]
ROOT = "layers/tradpal/python/tradpal"

setup(
    ext_modules=[
        Extension(
            "tradpal.indicators._kernels",
            sources=[f"{ROOT}/indicators/_kernels.c"],
            extra_compile_args=FLAGS,
            py_limited_api=True,
        ),
        # the backtest engine: one bar-by-bar simulation, also loaded with ctypes
        Extension(
            "tradpal.backtest._engine",
            sources=[f"{ROOT}/backtest/_engine.c"],
            extra_compile_args=FLAGS,
            py_limited_api=True,
        ),
    ]
)
