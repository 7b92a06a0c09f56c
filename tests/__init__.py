"""The test suite; a package so that tests and bench scripts import tests.support by name."""
