"""Data layer: SQLAlchemy models, engine factory, embedded server, migrations, demo data.

Nothing here imports Qt or the services; importing a module never connects anywhere.
"""
