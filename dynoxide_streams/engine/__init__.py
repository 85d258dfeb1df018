"""The storage engine: values, expressions, tables, the single writer and operations.

Nothing here speaks HTTP or JSON text; ``engine/operations.py`` lists the operations.
"""
