"""postgresql_scram: a password's SCRAM-SHA-256 verifier, as PostgreSQL stores it.

Computed on the controller, so that the cleartext never reaches the host: the role sends
`ALTER ROLE ... PASSWORD '<verifier>'`, which PostgreSQL stores as given. The salt is
derived from the password and the role's name (HMAC), so that the same password gives the
same verifier and a rerun changes nothing; a different role or password gives another salt.
The password is used as given (no SASLprep): ASCII passwords, as the vault's, are unchanged by it.
"""

import base64
import hashlib
import hmac

ITERATIONS = 4096


def postgresql_scram(password, role):
    password = str(password).encode()
    salt = hmac.new(password, b"fastapi-kit scram salt:" + str(role).encode(), hashlib.sha256).digest()[:16]
    salted = hashlib.pbkdf2_hmac("sha256", password, salt, ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw):
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


class FilterModule:
    def filters(self):
        return {"postgresql_scram": postgresql_scram}
