"""The ``tradpal`` command line: a thin shell over the library (no logic of its own)."""
