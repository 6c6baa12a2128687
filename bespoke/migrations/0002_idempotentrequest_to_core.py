# The idempotency record now belongs to core (same table): forget it here, state only.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("bespoke", "0001_initial"),
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="IdempotentRequest")],
                                            database_operations=[]),
    ]
