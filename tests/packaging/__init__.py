"""Packaging and deployment: the built wheel and sdist, and the files under deploy/."""
