"""`stagectl render`: write the deployment files into compose/ from templates/ (atomically), and
`--check`: exit 1 with a unified diff when compose/ differs from a fresh render."""

from __future__ import annotations

import typer

from stagectl import context
from stagectl.output import console, emit_json
from stagectl.secrets import secret_values


def _masker(project):
    """Masks the example's secrets *and* the user's env file secrets, so the diff of a hand-edited
    compose/ never shows a real secret someone pasted in."""
    context.learn_env_secrets()
    context.current().masker.add(*secret_values(project.env))
    return context.mask


def register(app: typer.Typer) -> None:
    @app.command("render")
    def render_command(
        check_only: bool = typer.Option(False, "--check", help="Write nothing; exit 1 with a diff when compose/ is stale."),
        as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
    ) -> int:
        """Render templates/ into compose/ (from the spec and .env.staging.example, never secrets)."""
        from rich.markup import escape

        from stagectl.render import committed_project, compare, render, write  # jinja2: ~0.1 s

        project = committed_project(context.current().project_dir)
        mask = _masker(project)
        out_dir = project.render_dir
        label = out_dir.name
        result = render(project)
        if check_only:
            diffs = compare(result, out_dir)
            if as_json:
                emit_json({
                    "render_dir": str(out_dir),
                    "current": not diffs,
                    "differences": [{"path": d.path, "kind": d.kind, "diff": mask(d.diff)} for d in diffs],
                })
                return 1 if diffs else 0
            out = console()
            if not diffs:
                out.print(f"{label}/ is up to date ({len(result.files)} files)")
                return 0
            for diff in diffs:
                out.print(f"[red]{diff.kind}:[/] {escape(label)}/{escape(diff.path)}")
            for diff in diffs:
                out.out(mask(diff.diff), highlight=False, end="")
            out.print(f"[red]{label}/ differs from a fresh render[/] — run `stagectl render` (hand edits are overwritten)", soft_wrap=True)
            return 1

        changes = compare(result, out_dir)
        write(result, out_dir)
        if as_json:
            emit_json({
                "render_dir": str(out_dir),
                "files": result.paths(),
                "changed": [{"path": d.path, "kind": d.kind} for d in changes],
            })
            return 0
        out = console()
        verbs = {"changed": "updated", "missing": "created", "extra": "removed"}
        for diff in changes:
            out.print(f"{verbs[diff.kind]}: {escape(label)}/{escape(diff.path)}")
        out.print(f"{label}/: {len(result.files)} files, {len(changes) or 'no'} change{'s' if len(changes) != 1 else ''}")
        return 0
