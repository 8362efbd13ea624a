"""The history of roll call changes (issue #17): who changed which pupil's state, when, before
-> after. A new table only (expand)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('attendance', '0001_initial'),
        ('core', '0004_loginattempt_prefix'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AttendanceChange',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('what', models.CharField(choices=[('roll_call', 'Appel')], default='roll_call', max_length=12)),
                ('date', models.DateField()),
                ('start', models.TimeField()),
                ('before', models.CharField(max_length=20)),
                ('after', models.CharField(max_length=20)),
                ('changed_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('changed_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('class_group', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='core.classgroup')),
                ('establishment', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='core.establishment')),
                ('student', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-changed_at', '-id'],
                'indexes': [models.Index(fields=['establishment', 'class_group', 'date', 'start'], name='attendance__establi_7c293f_idx'), models.Index(fields=['establishment', 'student', 'date'], name='attendance__establi_56efeb_idx')],
            },
        ),
    ]
