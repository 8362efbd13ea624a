"""Password hashing: Argon2id with the OWASP Password Storage Cheat Sheet's parameters.

OWASP (cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html, "Argon2id"):
"a minimum configuration of 19 MiB of memory, an iteration count of 2, and 1 degree of
parallelism". Django's own defaults (100 MiB, 2 passes, 8 lanes) cost ≈ 0.2 s of CPU per login
on these servers, about a fifth of a core for one login per second; these cost ≈ 5 times less
for the protection OWASP considers adequate.

The algorithm name stays "argon2": stored hashes with other parameters (Django's defaults) are
still verified, and Django's must_update() re-hashes them with these parameters at the user's
next successful login (the session hash derives from the password hash, so that login also ends
the user's other sessions, once).
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class OwaspArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 19 * 1024  # KiB: 19 MiB
    parallelism = 1
