"""The Genesis overhead benchmark: `python -m bench` from the repository root.

Users pay for LLM calls and evaluations; everything else Genesis spends is
overhead. These benchmarks measure it with the real engine, the real LLM
client talking to the loopback mock server of `genesis_core.testing`, the real
database, and (for evaluation cost) the real local backend with the sandbox
on. They print a table and write `bench/results.json`; docs/performance.md
explains the method and each number.
"""
