"""Adapters: PostgreSQL repositories, migrations, bcrypt, JWT signing, embedded PostgreSQL."""
