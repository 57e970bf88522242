"""Relational data through SQLAlchemy 2 (async): SQLite by default, PostgreSQL scaled out.

Tables live in tables*.py (one module per area), repositories in repos*.py, migrations in migrations/.
"""
