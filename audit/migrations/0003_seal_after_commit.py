"""Events are written without taking the chain head and sealed afterwards (audit.services):
a surrogate primary key, and `seq`, `prev_hash` and `entry_hash` empty until the seal. The
guard is lifted for the table change (SQLite rebuilds the table and drops its triggers)
and installed again in its new form, which allows exactly the seal's one update; on
PostgreSQL the seal itself is a database function (audit.db_seal)."""

from django.db import migrations, models


def install(apps, schema_editor):  # type: ignore[no-untyped-def]
    from audit.db_guard import install_guard

    install_guard(schema_editor.connection)


def install_seal(apps, schema_editor):  # type: ignore[no-untyped-def]
    from audit.db_seal import install_seal_function

    install_seal_function(schema_editor.connection)


def remove_seal(apps, schema_editor):  # type: ignore[no-untyped-def]
    from audit.db_seal import remove_seal_function

    remove_seal_function(schema_editor.connection)


def remove(apps, schema_editor):  # type: ignore[no-untyped-def]
    from audit.db_guard import remove_guard

    remove_guard(schema_editor.connection)


def drop_seq_primary_key(apps, schema_editor):  # type: ignore[no-untyped-def]
    """PostgreSQL: `seq` stops being the primary key before `id` becomes it (on SQLite the
    field changes below rebuild the table)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT conname FROM pg_constraint WHERE conrelid = 'audit_auditevent'::regclass AND contype = 'p'")
        names = [name for (name,) in cursor.fetchall()]
    for name in names:  # audit_auditevent_pkey, or Django's own name after a migration back and forth
        schema_editor.execute(f"ALTER TABLE audit_auditevent DROP CONSTRAINT {schema_editor.quote_name(name)}")


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_guard")]

    operations = [
        migrations.RunPython(remove, install),
        # backwards, the AlterField of seq makes it the primary key again
        migrations.RunPython(drop_seq_primary_key, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.PositiveBigIntegerField(null=True, unique=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="id",
            field=models.BigAutoField(primary_key=True, serialize=False),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="entry_hash",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.RunPython(install, remove),
        migrations.RunPython(install_seal, remove_seal),
    ]
