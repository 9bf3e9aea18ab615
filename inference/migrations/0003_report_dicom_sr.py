from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("inference", "0002_report_lifecycle_and_findings"),
    ]

    operations = [
        migrations.AddField(
            model_name="report",
            name="sr",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
