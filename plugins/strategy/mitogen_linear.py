# Mitogen's linear strategy, from the `mitogen` package that requirements-deploy.txt
# pins: ansible.cfg names this folder in strategy_plugins, so the strategy is found in
# whatever virtualenv runs Ansible, with no path to site-packages written anywhere.
# Plain SSH is one variable away: ANSIBLE_STRATEGY=linear.
from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule  # noqa: F401
