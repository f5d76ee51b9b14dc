"""redact: replace the values of secrets in a text with a marker.

Each secret is replaced as it is and as Python's repr and JSON would escape it
inside quotes (the forms tracebacks and validation errors print), longest first.
"""

import json


def redact(text, secrets, marker="[redacted]"):
    text = str(text)
    forms = set()
    for value in secrets:
        value = str(value)
        if value:
            forms.update({value, repr(value)[1:-1], json.dumps(value)[1:-1]})
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, marker)
    return text


class FilterModule:
    def filters(self):
        return {"redact": redact}
