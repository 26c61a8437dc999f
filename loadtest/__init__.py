"""Benchmarks for rtserver: ``python -m loadtest chat {room,one2one,idle}`` (see loadtest/README.md)."""
