"""Expand: an establishment's status may be `closed` (`establishment close`, then its archive
export and its purge: preau.core.closure), and view `preau_audit.closed_establishments`: each
closed establishment, its closing day and the rows it still holds (memberships, classes and
groups, stored files), for the audit's control that a closed establishment's data leave the
ENT within the legal 3 months (DATA-07). The UAI, a date and counts only; SELECT to
pg_monitor as core.0006 grants its views.

A new choice (no change to the column) and a new view: the previous release ignores both. A
later migration that changes a column the view reads (core_establishment.status, archived_at;
the establishment_id of core_membership, core_classgroup, ent_storedfile) must drop and
recreate it.
"""

from django.db import migrations, models

VIEW = """
CREATE OR REPLACE VIEW preau_audit.closed_establishments AS
SELECT e.uai,
       (e.archived_at AT TIME ZONE 'Europe/Paris')::date AS closed_on,
       (SELECT count(*) FROM core_membership m WHERE m.establishment_id = e.id) AS memberships,
       (SELECT count(*) FROM core_classgroup c WHERE c.establishment_id = e.id) AS classes,
       (SELECT count(*) FROM ent_storedfile f WHERE f.establishment_id = e.id) AS files
FROM core_establishment e
WHERE e.status = 'closed';

GRANT SELECT ON preau_audit.closed_establishments TO pg_monitor;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0009_operationlog_kind_at"),
        ("ent", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="establishment",
            name="status",
            field=models.CharField(
                choices=[
                    ("active", "Actif"),
                    ("archived", "Archivé"),
                    ("merged", "Fusionné"),
                    ("closed", "Fermé"),
                ],
                default="active",
                max_length=10,
            ),
        ),
        migrations.RunSQL(
            VIEW,
            "DROP VIEW IF EXISTS preau_audit.closed_establishments",
            hints={"phase": "expand"},  # a new view only (core.migration_classify)
        ),
    ]
