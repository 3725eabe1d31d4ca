# Alerts became an app of their own (incidents.alerts, label "alerts"): their
# models leave this app's state; their tables stay as they are (the alerts
# app's 0001_initial takes them into its state with the same names).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0006_checks'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.RemoveField(
                    model_name='alert',
                    name='channel',
                ),
                migrations.RemoveField(
                    model_name='alert',
                    name='monitor',
                ),
                migrations.RemoveField(
                    model_name='alert',
                    name='transition',
                ),
                migrations.RemoveField(
                    model_name='alert',
                    name='window',
                ),
                migrations.RemoveField(
                    model_name='alertattempt',
                    name='alert',
                ),
                migrations.RemoveField(
                    model_name='windowend',
                    name='window',
                ),
                migrations.DeleteModel(
                    name='AlertChannel',
                ),
                migrations.DeleteModel(
                    name='Alert',
                ),
                migrations.DeleteModel(
                    name='AlertAttempt',
                ),
                migrations.DeleteModel(
                    name='WindowEnd',
                ),
            ],
        ),
    ]
