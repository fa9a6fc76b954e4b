"""Tools for developers: bulk-loading synthetic trees for benchmarks and crash tests."""
