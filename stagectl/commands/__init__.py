"""One module per CLI command, each exposing `register(app: typer.Typer)`.

Commands read global options through `stagectl.context.get_project()`, return an int exit code
or raise `StagectlError`, and never call sys.exit themselves (the boundary in cli.py does).
"""
