"""Command-line tools (``lingbot-depth predict|serve|ui``); web dependencies are imported lazily."""
