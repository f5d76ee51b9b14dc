# The kit's input checks, many in one task: a role's preflight.yml lists its checks
# (each a condition and the message that names the variable) and this action evaluates
# them on the controller, in order, and fails at the first that does not hold, as
# ansible.builtin.assert would. One task instead of one per check: each task costs the
# controller a worker process and its callbacks (about 0.07 s), and site.yml checks
# every role of every host on every run.
#
#   - name: Check the input of <role>
#     kit_check:
#       checks:
#         - name: <what it checks>                     named in the result when it fails
#           that: <condition> or [<condition>, ...]    all must hold
#           msg: <message>                             templated only when it fails
#           when: <condition>                          optional: check only when it holds
#           loop: <list>                               optional: check each item, as
#           loop_var: item                               `item` (or loop_var), with its
#           index_var: <name>                            index (index_var) and `loop`
#           label: <template>                            the item's name in the result
#
# Conditions and messages are templates as in assert (`that` and `fail_msg`): the
# checks are kept as written and evaluated here, each with the loop's variables.
from __future__ import annotations

from collections import ChainMap

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

_KEYS = {"name", "that", "msg", "when", "loop", "loop_var", "index_var", "label"}


class ActionModule(ActionBase):
    """Evaluate a list of input checks; fail with the first failing check's message."""

    _requires_connection = False
    _VALID_ARGS = frozenset(("checks",))

    @classmethod
    def finalize_task_arg(cls, name, value, templar, context):
        # The checks stay as written: each condition and message is evaluated in run(),
        # with its own loop item, and a message only when its check fails.
        if name == "checks":
            return value
        return super().finalize_task_arg(name, value, templar, context)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        checks = self._task.args.get("checks")
        if not isinstance(checks, list) or not checks:
            raise AnsibleActionFail("kit_check: `checks` must be a non-empty list of checks")
        base = self._templar.available_variables
        evaluated = 0
        for number, check in enumerate(checks):
            if not isinstance(check, dict) or "that" not in check or "msg" not in check or set(check) - _KEYS:
                raise AnsibleActionFail(
                    f"kit_check: check {number} must be a mapping with `that` and `msg` (and optionally "
                    f"{', '.join(sorted(_KEYS - {'that', 'msg'}))}); got keys {sorted(check) if isinstance(check, dict) else check!r}"
                )
            that = check["that"] if isinstance(check["that"], list) else [check["that"]]
            if "loop" in check:
                items = self._templar.template(check["loop"])
                if not isinstance(items, list):
                    raise AnsibleActionFail(f"kit_check: the loop of check {number} ({check['loop']}) is not a list: {items!r}")
                loop_var, index_var = check.get("loop_var", "item"), check.get("index_var")
                rounds = [{loop_var: item, **({index_var: index} if index_var else {})} for index, item in enumerate(items)]
            else:
                rounds = [{}]
            for local in rounds:
                templar = self._templar.copy_with_new_env(available_variables=ChainMap(local, base)) if local else self._templar
                when = check.get("when", [])
                if not all(templar.evaluate_conditional(c) for c in (when if isinstance(when, list) else [when])):
                    continue
                evaluated += 1
                for condition in that:
                    if not templar.evaluate_conditional(condition):
                        result["failed"] = True
                        result["assertion"] = condition
                        if "name" in check:
                            result["check"] = check["name"]
                        result["msg"] = templar.template(check["msg"])
                        if "label" in check:
                            result["item"] = templar.template(check["label"])
                        return result
        result["changed"] = False
        result["msg"] = f"{evaluated} checks passed"
        return result
