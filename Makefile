# The two commands of the README. Each does its own set-up first.
.PHONY: demo test setup bench lint

# Evolve the bundled circle-packing example (offline unless an API key is set).
demo:
	scripts/setup.sh --demo
	.venv/bin/genesis run examples/circle_packing

# The whole test suite of every package; CI runs exactly this.
test:
	scripts/setup.sh
	scripts/test.sh

setup:
	scripts/setup.sh

bench:
	scripts/setup.sh --python
	.venv/bin/python -m bench

lint:
	.venv/bin/ruff check .
