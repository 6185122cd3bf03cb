"""The local platform: what AWS does around the functions, run on a laptop next to moto."""
