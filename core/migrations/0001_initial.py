# The idempotency record moved here from the bespoke app: same table, so state only.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("bespoke", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="IdempotentRequest",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("key", models.CharField(max_length=100)),
                        ("endpoint", models.CharField(max_length=200)),
                        ("request_sha256", models.CharField(max_length=64)),
                        ("response_status", models.PositiveSmallIntegerField()),
                        ("response_body", models.JSONField()),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+",
                                                   to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "bespoke_idempotentrequest",
                        "constraints": [models.UniqueConstraint(fields=("user", "key"),
                                                                name="idempotency_key_once_per_user")],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
