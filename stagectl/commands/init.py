"""`stagectl init`: create the env file from the example with fresh secrets (stagectl/config/newenv.py)."""

from __future__ import annotations

import typer

from stagectl import context
from stagectl.output import console


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(force: bool = typer.Option(False, "--force", help="Replace an existing env file.")) -> int:
        """Create the env file (.env.staging) from the example with fresh random secrets (mode 0600)."""
        from stagectl.config.loader import find_root
        from stagectl.config.newenv import init_env
        from stagectl.config.spec import display_path

        ctx = context.current()
        root = find_root(ctx.project_dir)
        target, generated = init_env(root, ctx.env_file, force=force)
        out = console()
        out.print(f"created {display_path(target, root)} (mode 0600)")
        if generated:
            out.print(f"generated new values for {len(generated)} secrets: {', '.join(generated)}")
        return 0
