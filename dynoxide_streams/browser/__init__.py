"""The engine in a browser tab: Pyodide worker runtime, OPFS mirror, bundle build."""
