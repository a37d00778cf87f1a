"""Storage: the call journal (SQLite by default, PostgreSQL by URL) and recording retention.

Import what you need from its modules (``callgate.storage.journal``, ``.annotations``,
``.outbox``...): this package itself imports nothing, so that ``callgate.config`` can read
``callgate.storage.settings`` without loading SQLAlchemy. The tables join the models' metadata
when their modules are imported; :mod:`callgate.storage.tables` imports every one of them.
"""
