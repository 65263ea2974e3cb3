"""`stagectl render`: write the deployment files into compose/ from templates/ (atomically), or
with `--target kubernetes` the kustomize layout into deploy/kubernetes/; `--check`: exit 1 with a
unified diff when a render dir differs from a fresh render (every target unless --target)."""

from __future__ import annotations

from typing import Optional

import typer

from stagectl import context
from stagectl.commands.options import RenderTarget, value
from stagectl.output import console, emit_json
from stagectl.secrets import secret_values


def _masker(project):
    """Masks the example's secrets *and* the user's env file secrets, so the diff of a hand-edited
    compose/ never shows a real secret someone pasted in."""
    context.learn_env_secrets()
    context.current().masker.add(*secret_values(project.env))
    return context.mask


def _label(project, target) -> str:
    try:
        return target.out_dir.relative_to(project.root).as_posix()
    except ValueError:
        return str(target.out_dir)


def register(app: typer.Typer) -> None:
    @app.command("render")
    def render_command(
        check_only: bool = typer.Option(False, "--check", help="Write nothing; exit 1 with a diff when a render dir is stale."),
        as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
        target_name: Optional[RenderTarget] = typer.Option(  # noqa: UP045 (typer reads the annotation)
            None, "--target",
            help="compose (default), kubernetes (deploy/kubernetes/) or all; --check without it checks all.",
        ),
    ) -> int:
        """Render templates/ into compose/ (or --target kubernetes: deploy/kubernetes/), from the spec
        and .env.staging.example, never secrets."""
        from rich.markup import escape

        from stagectl.render import committed_project  # jinja2: ~0.1 s
        from stagectl.render.targets import load, selected

        project = committed_project(context.current().project_dir)
        mask = _masker(project)
        targets = [load(project, name) for name in selected(project, value(target_name), check_only=check_only)]
        if check_only:
            found = [(t, t.diffs()) for t in targets]
            stale = any(diffs for _, diffs in found)
            if as_json:
                docs = [{
                    "target": t.name,
                    "render_dir": str(t.out_dir),
                    "current": not diffs,
                    "differences": [{"path": d.path, "kind": d.kind, "diff": mask(d.diff)} for d in diffs],
                } for t, diffs in found]
                emit_json(docs[0] if len(docs) == 1 else {"current": not stale, "targets": docs})
                return 1 if stale else 0
            out = console()
            for t, diffs in found:
                label = _label(project, t)
                if not diffs:
                    out.print(f"{label}/ is up to date ({len(t.result.files)} files)")
                    continue
                for diff in diffs:
                    out.print(f"[red]{diff.kind}:[/] {escape(label)}/{escape(diff.path)}")
                for diff in diffs:
                    out.out(mask(diff.diff), highlight=False, end="")
                option = "" if t.name == "compose" else f" --target {t.name}"
                out.print(f"[red]{label}/ differs from a fresh render[/] — run `stagectl render{option}` (hand edits are overwritten)", soft_wrap=True)
            return 1 if stale else 0

        docs = []
        out = console()
        for t in targets:
            label = _label(project, t)
            changes = t.diffs()
            t.write(t.result, t.out_dir)
            docs.append({
                "target": t.name,
                "render_dir": str(t.out_dir),
                "files": t.result.paths(),
                "changed": [{"path": d.path, "kind": d.kind} for d in changes],
            })
            if as_json:
                continue
            verbs = {"changed": "updated", "missing": "created", "extra": "removed"}
            for diff in changes:
                out.print(f"{verbs[diff.kind]}: {escape(label)}/{escape(diff.path)}")
            out.print(f"{label}/: {len(t.result.files)} files, {len(changes) or 'no'} change{'s' if len(changes) != 1 else ''}")
        if as_json:
            emit_json(docs[0] if len(docs) == 1 else {"targets": docs})
        return 0
