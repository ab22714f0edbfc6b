"""Key-service state in SQL (SQLAlchemy 2, async): SQLite by default, PostgreSQL by DSN."""
