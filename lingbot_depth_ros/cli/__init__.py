"""The command lines (``lingbot-depth predict|batch|fuse|serve|ui``, ``lingbot-depth-eval|demo|bag|export``):
option parsing and entry points only; what the commands do lives in the packages below, and nothing outside
``cli/`` imports it (test/test_cli_boundary.py). Optional dependencies are imported lazily.

Argument parsing stays here, with one exception: the developer commands that regenerate a checked-in file from
its module's own table (``python -m lingbot_depth_ros.params.docs --write``, ``deploy.rviz_config``,
``surfaces.schema_doc``) keep their tiny ``--write`` main beside the renderer; they are not installed.
"""
