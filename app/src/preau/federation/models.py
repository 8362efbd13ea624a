"""What federation keeps in the database: the assertions already used (replay protection)."""

from django.db import models


class SeenAssertion(models.Model):
    """A SAML assertion's ID consumed by the ACS, kept until its NotOnOrAfter: the same
    assertion posted again (a replay) finds its row and is refused. A table rather than the
    cache: the cache is each worker's own memory (settings.CACHES), so a replay sent to another
    worker or app server would not be seen there. Rows past `expires_at` (and a few minutes of
    clock slack) are deleted at each federated login: the table holds the last minutes' logins
    only."""

    assertion_id = models.CharField(max_length=256, primary_key=True)
    idp = models.CharField(max_length=16)
    expires_at = models.DateTimeField(db_index=True)
