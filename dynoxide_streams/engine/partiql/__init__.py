"""PartiQL for DynamoDB: statements → the engine's existing operations.

Pure modules (no I/O), in the style of ``engine/expressions/``:

* ``lexer``   text → tokens with their line and column
* ``ast``     the statement tree
* ``parser``  tokens → statement tree; syntax errors name the token and its position
* ``planner`` statement tree + parameters → expression AST, key ranges and write plans

``operations`` (not pure: it runs the plans) serves ExecuteStatement,
BatchExecuteStatement and ExecuteTransaction.
"""
