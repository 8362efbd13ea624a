"""Expand: schema `preau_audit`, views of what the platform's own data rules need checked
(retention, local administrators, never-activated accounts, directory imports), for the
audit's read-only database access (issue #25 item 5; `deploy.py audit`, controls DATA-*).

They expose counts and dates only, except `local_admins`, which names the local
administrators' logins (staff accounts holding rights: the list is the audit's evidence).
SELECT on them goes to the predefined role pg_monitor, of which the postgresql role makes the
auditor's database role a member (`postgresql_auditor_user`): the auditor reads these views
and nothing of the tables behind them (a view reads its tables with its owner's rights).

New objects only, nothing locked but the catalogue: the previous release ignores them. A later
migration that changes a column these views read (core_user, core_membership,
core_establishment, core_operationlog, core_loginattempt, core_platform) must drop and
recreate the view that reads it (PostgreSQL refuses to alter a column a view uses).
"""

from django.db import migrations

# The app's own rules, as it applies them: a school year starts on 1 September
# (core.models.school_year_of, Platform.school_year overrides it), local dates in Europe/Paris
# (settings.TIME_ZONE).
VIEWS = """
CREATE SCHEMA IF NOT EXISTS preau_audit;

CREATE OR REPLACE VIEW preau_audit.platform AS
SELECT coalesce(
           (SELECT school_year FROM core_platform WHERE id = 1),
           CASE WHEN extract(month FROM (now() AT TIME ZONE 'Europe/Paris')) >= 9
                THEN extract(year FROM (now() AT TIME ZONE 'Europe/Paris'))::int
                ELSE extract(year FROM (now() AT TIME ZONE 'Europe/Paris'))::int - 1 END
       ) AS school_year,
       (now() AT TIME ZONE 'Europe/Paris')::date AS today;

-- Accounts every membership of which is gone (purge_gone disables, then deletes them):
-- how many, how many still active, since when the earliest left, the earliest disabled.
CREATE OR REPLACE VIEW preau_audit.gone_accounts AS
SELECT count(*) AS accounts,
       count(*) FILTER (WHERE is_active) AS active,
       min(left_on) AS oldest_left_on,
       min(disabled_at) AS oldest_disabled_at
FROM (SELECT u.is_active, u.disabled_at, max(m.gone_since) AS left_on
      FROM core_user u JOIN core_membership m ON m.user_id = u.id
      WHERE NOT u.is_superuser
      GROUP BY u.id
      HAVING bool_and(m.gone_since IS NOT NULL)) AS gone;

-- The connection log (core_loginattempt): kept one year by purge_gone.
CREATE OR REPLACE VIEW preau_audit.connection_logs AS
SELECT count(*) AS entries, min(at) AS oldest FROM core_loginattempt;

-- Each active establishment: its current local administrators and its last directory import.
CREATE OR REPLACE VIEW preau_audit.establishments AS
SELECT e.uai,
       (SELECT count(*) FROM core_membership m JOIN core_user u ON u.id = m.user_id
        WHERE m.establishment_id = e.id AND m.is_local_admin AND m.gone_since IS NULL
          AND NOT m.disabled AND u.is_active) AS local_admins,
       (SELECT max(o.at) FROM core_operationlog o
        WHERE o.establishment_id = e.id AND o.kind IN ('import_aaf', 'import_csv')) AS last_import
FROM core_establishment e
WHERE e.status = 'active';

-- The list behind establishments.local_admins: login, and whether they ever logged in.
CREATE OR REPLACE VIEW preau_audit.local_admins AS
SELECT e.uai, u.username, u.last_login IS NOT NULL AS activated
FROM core_membership m
JOIN core_user u ON u.id = m.user_id
JOIN core_establishment e ON e.id = m.establishment_id
WHERE e.status = 'active' AND m.is_local_admin AND m.gone_since IS NULL AND NOT m.disabled
  AND u.is_active;

-- Current members never logged in (no activation), per establishment and day of creation.
CREATE OR REPLACE VIEW preau_audit.never_activated AS
SELECT e.uai, (u.date_joined AT TIME ZONE 'Europe/Paris')::date AS joined_on, count(*) AS accounts
FROM core_membership m
JOIN core_user u ON u.id = m.user_id
JOIN core_establishment e ON e.id = m.establishment_id
WHERE e.status = 'active' AND m.gone_since IS NULL AND NOT m.disabled AND u.is_active
  AND NOT u.is_superuser AND u.last_login IS NULL
GROUP BY e.uai, joined_on;

GRANT USAGE ON SCHEMA preau_audit TO pg_monitor;
GRANT SELECT ON ALL TABLES IN SCHEMA preau_audit TO pg_monitor;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_user_confirmed_email"),
    ]

    operations = [
        migrations.RunSQL(
            VIEWS,
            "DROP SCHEMA IF EXISTS preau_audit CASCADE",
            hints={"phase": "expand"},  # new views only (core.migration_classify)
        ),
    ]
