"""Fakes, test kits and helpers shared by the tests and the benchmarks."""
