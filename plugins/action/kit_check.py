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
#
# It also checks values against a role's argument spec, as validate_argument_spec does,
# for the host and then for one app (its settings over the host's), in the same task:
#
#   - kit_check:
#       argument_spec: <the spec's options>    the host's values of those variables
#       app_arguments: <an app's settings>     optional: then host's and app's combined
from __future__ import annotations

from collections import ChainMap

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.vars import combine_vars

_KEYS = {"name", "that", "msg", "when", "loop", "loop_var", "index_var", "label"}


class ActionModule(ActionBase):
    """Evaluate a list of input checks; fail with the first failing check's message."""

    _requires_connection = False
    _VALID_ARGS = frozenset(("checks", "argument_spec", "app_arguments"))

    @classmethod
    def finalize_task_arg(cls, name, value, templar, context):
        # The checks stay as written: each condition and message is evaluated in run(),
        # with its own loop item, and a message only when its check fails.
        if name == "checks":
            return value
        return super().finalize_task_arg(name, value, templar, context)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if "argument_spec" in self._task.args:
            return self._check_spec(result, task_vars or {})
        checks = self._task.args.get("checks")
        if not isinstance(checks, list) or not checks:
            raise AnsibleActionFail("kit_check: `checks` must be a non-empty list of checks, or `argument_spec` given")
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

    def _check_spec(self, result, task_vars):
        """The host's values against the spec, then the app's over them."""
        spec = self._task.args["argument_spec"]
        app = self._task.args.get("app_arguments") or {}
        if not isinstance(spec, dict) or not isinstance(app, dict):
            raise AnsibleActionFail("kit_check: `argument_spec` and `app_arguments` must be mappings")
        host = self._templar.template({name: task_vars[name] for name in spec if name in task_vars})
        rounds = [("the host's values", host)] + ([("the app's own settings", combine_vars(host, app))] if app else [])
        for what, values in rounds:
            errors = ArgumentSpecValidator(spec).validate(values, validate_role_argument_spec=True).error_messages
            if errors:
                result["failed"] = True
                result["msg"] = f"Validation of {what} failed:\n" + "\n".join(errors)
                result["argument_errors"] = errors
                return result
        result["changed"] = False
        result["msg"] = f"{len(rounds)} sets of values passed the argument spec"
        return result
