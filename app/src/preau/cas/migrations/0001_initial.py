"""Expand: Préau as a CAS 3.0 server (issue #20 item 4), two new tables: the partner services
each establishment allows (`cas_casservice`) and their service tickets (`cas_serviceticket`).
Nothing the previous release reads or writes changes."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('core', '0008_audit_messages_view'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='CasService',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=200)),
                ('url_prefix', models.CharField(max_length=500)),
                ('attributes', models.JSONField(default=list)),
                ('proxy_allowed', models.BooleanField(default=False)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('establishment', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='cas_services', to='core.establishment')),
            ],
            options={
                'ordering': ['establishment_id', 'url_prefix'],
            },
        ),
        migrations.CreateModel(
            name='ServiceTicket',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('ticket', models.CharField(max_length=100, unique=True)),
                ('service_url', models.TextField()),
                ('from_new_login', models.BooleanField(default=False)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('expires_at', models.DateTimeField(db_index=True)),
                ('service', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to='cas.casservice')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
        ),
        migrations.AddConstraint(
            model_name='casservice',
            constraint=models.UniqueConstraint(fields=('establishment', 'url_prefix'), name='casservice_unique_prefix'),
        ),
    ]
