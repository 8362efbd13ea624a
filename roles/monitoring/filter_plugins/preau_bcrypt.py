"""bcrypt hashes for the web configuration of Prometheus and Alertmanager (basic_auth_users).

    {{ password | preau_bcrypt(current_hash) }}

A new hash has a random salt, so the hash already on the host is kept when it is one of the
same password: a second converge changes nothing, a new password in the vault a new hash.
Made on the controller with the `bcrypt` package of its virtualenv (paramiko's dependency;
Ansible's password_hash('bcrypt') needs passlib, which the bundle does not carry).
"""

from typing import Any

ROUNDS = 10  # exporter-toolkit checks the hash at each new credential, then caches it


def preau_bcrypt(password: Any, current: Any = "") -> str:
    """`current` when it is a bcrypt hash of `password`, else a new hash of it."""
    import bcrypt

    secret = str(password).encode()
    if len(secret) > 72:
        raise ValueError("bcrypt reads at most 72 bytes of a password: choose a shorter one")
    if current:
        try:
            if bcrypt.checkpw(secret, str(current).encode()):
                return str(current)
        except ValueError:  # not a bcrypt hash: replaced
            pass
    return bcrypt.hashpw(secret, bcrypt.gensalt(rounds=ROUNDS)).decode()


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"preau_bcrypt": preau_bcrypt}
