# Alerts became an app of their own (label "alerts"): its models were the
# incidents app's since incidents 0003_alerts. The tables keep their names
# (Meta.db_table), so this only adds them to this app's state; the incidents
# app's 0009_alerts_to_own_app takes them out of its own. The content types
# move with them, so permissions and the admin's history still apply.

import django.db.models.deletion
import django.utils.timezone
import incidents.alerts.models
import incidents.cache.generation
from django.db import migrations, models

MODELS = ["alertchannel", "alert", "alertattempt", "windowend"]


def move_content_types(from_label, to_label):
    def move(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        db = schema_editor.connection.alias
        taken = ContentType.objects.using(db).filter(app_label=to_label, model__in=MODELS)
        ContentType.objects.using(db).filter(app_label=from_label, model__in=MODELS).exclude(
            model__in=taken.values("model")
        ).update(app_label=to_label)

    return move


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('incidents', '0009_alerts_to_own_app'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                    migrations.CreateModel(
                        name='AlertChannel',
                        fields=[
                            ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                            ('name', models.CharField(max_length=100)),
                            ('kind', models.CharField(choices=[('email', 'Email'), ('webhook', 'Webhook')], default='email', max_length=20)),
                            ('email', models.EmailField(blank=True, help_text='For email channels.', max_length=254)),
                            ('url', models.URLField(blank=True, help_text='For webhooks: receives a JSON POST.', max_length=2000)),
                            ('secret', models.CharField(blank=True, default=incidents.alerts.models.new_webhook_secret, help_text='For webhooks: signs each request (Kamustatus-Signature header).', max_length=200)),
                            ('enabled', models.BooleanField(default=True)),
                            ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ],
                        options={
                            'db_table': 'incidents_alertchannel',
                            'ordering': ['name', 'pk'],
                        },
                        bases=(incidents.cache.generation.NotShownOnPage, models.Model),
                    ),
                    migrations.CreateModel(
                        name='Alert',
                        fields=[
                            ('id', models.CharField(default=incidents.alerts.models.new_alert_id, max_length=40, primary_key=True, serialize=False)),
                            ('kind', models.CharField(choices=[('down', 'Down'), ('degraded', 'Degraded'), ('recovered', 'Recovered')], max_length=20)),
                            ('reason', models.CharField(choices=[('transition', 'Change of state'), ('window_end', 'Still failing when maintenance ended')], default='transition', max_length=20)),
                            ('monitor_ref', models.CharField(max_length=40, verbose_name='monitor id')),
                            ('monitor_name', models.CharField(max_length=200)),
                            ('from_status', models.CharField(blank=True, max_length=20)),
                            ('to_status', models.CharField(max_length=20)),
                            ('occurred_at', models.DateTimeField(help_text='When the monitor changed state.')),
                            ('channel_kind', models.CharField(choices=[('email', 'Email'), ('webhook', 'Webhook')], max_length=20)),
                            ('channel_name', models.CharField(max_length=100)),
                            ('target', models.CharField(max_length=2000)),
                            ('window_ref', models.CharField(blank=True, max_length=40, verbose_name='window id')),
                            ('outcome', models.CharField(choices=[('pending', 'Pending'), ('delivering', 'Delivering'), ('sent', 'Sent'), ('failed', 'Failed'), ('suppressed', 'Suppressed')], default='pending', max_length=20)),
                            ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                            ('next_attempt_at', models.DateTimeField(default=django.utils.timezone.now)),
                            ('claimed_at', models.DateTimeField(blank=True, null=True)),
                            ('attempt_count', models.PositiveSmallIntegerField(default=0)),
                            ('finished_at', models.DateTimeField(blank=True, null=True)),
                            ('last_error', models.TextField(blank=True)),
                            ('monitor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='alerts', to='incidents.monitor')),
                            ('transition', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='incidents.monitorstatuschange')),
                            ('window', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='alerts', to='incidents.incident')),
                            ('channel', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='alerts', to='alerts.alertchannel')),
                        ],
                        options={
                            'db_table': 'incidents_alert',
                            'ordering': ['-created_at', '-id'],
                        },
                        bases=(incidents.cache.generation.NotShownOnPage, models.Model),
                    ),
                    migrations.CreateModel(
                        name='AlertAttempt',
                        fields=[
                            ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                            ('number', models.PositiveSmallIntegerField()),
                            ('started_at', models.DateTimeField()),
                            ('duration_ms', models.PositiveIntegerField(default=0)),
                            ('status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                            ('error', models.TextField(blank=True)),
                            ('succeeded', models.BooleanField(default=False)),
                            ('alert', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attempts', to='alerts.alert')),
                        ],
                        options={
                            'db_table': 'incidents_alertattempt',
                            'ordering': ['alert', 'number'],
                        },
                        bases=(incidents.cache.generation.NotShownOnPage, models.Model),
                    ),
                    migrations.CreateModel(
                        name='WindowEnd',
                        fields=[
                            ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                            ('ended_at', models.DateTimeField()),
                            ('processed_at', models.DateTimeField(default=django.utils.timezone.now)),
                            ('alert_count', models.PositiveIntegerField(default=0)),
                            ('window', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='window_ends', to='incidents.incident')),
                        ],
                        options={
                            'db_table': 'incidents_windowend',
                            'ordering': ['-ended_at'],
                        },
                        bases=(incidents.cache.generation.NotShownOnPage, models.Model),
                    ),
                    migrations.AddIndex(
                        model_name='alert',
                        index=models.Index(fields=['-created_at', '-id'], name='alert_newest_first'),
                    ),
                    migrations.AddIndex(
                        model_name='alert',
                        index=models.Index(fields=['monitor_ref', '-created_at'], name='alert_by_monitor'),
                    ),
                    migrations.AddIndex(
                        model_name='alert',
                        index=models.Index(fields=['outcome', 'next_attempt_at'], name='alert_by_outcome'),
                    ),
                    migrations.AddConstraint(
                        model_name='windowend',
                        constraint=models.UniqueConstraint(fields=('window', 'ended_at'), name='window_end_once'),
                    ),
            ],
        ),
        migrations.RunPython(
            move_content_types("incidents", "alerts"),
            move_content_types("alerts", "incidents"),
        ),
    ]
