# Shortcuts for ./dev, which needs nothing but Python 3.11 and pip.
.PHONY: run test setup ci
run:
	./dev run
test:
	./dev test
setup:
	./dev setup
ci:
	bash .ci/run
