from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True


    operations = [
        migrations.CreateModel(
            name="SeenAssertion",
            fields=[
                (
                    "assertion_id",
                    models.CharField(max_length=256, primary_key=True, serialize=False),
                ),
                ("idp", models.CharField(max_length=16)),
                ("expires_at", models.DateTimeField(db_index=True)),
            ],
        ),
    ]
