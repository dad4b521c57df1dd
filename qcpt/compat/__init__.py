"""Small, documented work-arounds for third-party packages, each in its own module.

Import the module for a package *before* importing that package; each work-around applies only
when the problem it fixes is present, so it becomes a no-op on a machine that lacks the problem.
"""
