"""Plugins: the hooks a plugin implements (hookspecs.py), finding the installed ones (registry.py), and
resolving a config's names into their classes once, at the edge (resolve.py)."""
