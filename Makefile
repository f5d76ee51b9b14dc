# The kit's commands. Each sets up what it needs on a fresh Debian machine.
.PHONY: test local lint setup image clean bench bench-zero-downtime bench-deploy-time bench-serving bench-hardening bench-tls bench-fleet

# Every test: lint, every Molecule scenario, the pytest tests.
test:
	bash scripts/test.sh

# The main job: deploy the example app to a local systemd container standing in for a VPS.
local:
	bash scripts/local.sh

# Set-up only: venv with the pinned tools, collections, Docker engine, test image.
setup:
	bash scripts/bootstrap.sh

lint: setup
	.venv/bin/yamllint --strict .
	.venv/bin/ansible-lint --profile production --strict

# Rebuild the systemd test image even when one exists.
image:
	KIT_REBUILD_IMAGE=1 bash scripts/build-image.sh "$${KIT_DISTRO:-debian13}"

# Benchmarks: each prints its tables (the README's Benchmarks section says what they measure).
bench: bench-zero-downtime bench-deploy-time bench-serving bench-hardening bench-tls

bench-zero-downtime:
	bash bench/run.sh zero_downtime

bench-deploy-time:
	bash bench/run.sh deploy_time

bench-serving:
	bash bench/run.sh serving

bench-hardening:
	bash bench/run.sh hardening

bench-tls:
	bash bench/run.sh tls

# Not in `make bench`: its ten hosts would add, by estimate, 20 to 30 minutes to the
# 42 of the other five (README, Benchmarks). FLEET_ARGS="HOSTS SERIAL", default "10 30%".
bench-fleet:
	bash bench/run.sh fleet $(FLEET_ARGS)
