"""`stagectl config`: show the resolved stack and environment (secrets masked), and with
--sources where every value came from (file:line, env, cli or default)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from stagectl import context
from stagectl.output import console, emit_json
from stagectl.secrets import MASK, is_secret_name


def masked_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment with every secret variable's value replaced by the mask (empty stays empty)."""
    return {k: (MASK if is_secret_name(k) and v else v) for k, v in sorted(env.items())}


def resolved_view(project: Any) -> dict[str, Any]:
    """The stack and env as plain data, secrets masked (also inside values that embed them)."""
    import yaml

    mask = project.masker()
    stack = yaml.safe_load(mask(yaml.safe_dump(project.stack.model_dump(mode="json"), sort_keys=False)))
    return {
        "spec": str(project.spec_path),
        "env_file": str(project.env_path),
        "using_example": project.using_example,
        "stack": stack,
        "env": masked_env(project.env),
    }


def _leaves(node: Any, path: str = "") -> dict[str, Any]:
    if isinstance(node, dict) and node:
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_leaves(v, f"{path}.{k}" if path else str(k)))
        return out
    return {path: node}


def _key_source(project: Any, key: str) -> str:
    """`stagectl.yaml:17 via POSTGRES_PORT=cli` for interpolated keys, else the key's own source."""
    source = project.key_sources.get(key, "default")
    names = project.key_variables.get(key, ())
    via = ", ".join(f"{n}={project.env_sources.get(n, 'unset')}" for n in names)
    return f"{source} via {via}" if via else source


def sources_view(project: Any) -> list[dict[str, str]]:
    """One row per stack key and per variable: name, value (masked) and source."""
    import yaml

    view = resolved_view(project)
    rows = [
        {"key": k, "value": yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("\n..."), "source": _key_source(project, k)}
        for k, v in _leaves(view["stack"]).items()
    ]
    rows += [{"key": k, "value": v, "source": project.env_sources.get(k, "?")} for k, v in view["env"].items()]
    return rows


def register(app: typer.Typer) -> None:
    @app.command("config")
    def config(
        sources: bool = typer.Option(False, "--sources", help="Show where every value came from."),
        as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
        allow_example: bool = typer.Option(
            False, "--allow-example", help="Use the example env file when the env file is missing (inspection only)."
        ),
    ) -> int:
        """Print the resolved stack and environment (secrets masked)."""
        import yaml
        from rich.markup import escape

        project = context.get_project(allow_example=allow_example)
        if as_json:
            payload = resolved_view(project)
            if sources:
                payload["sources"] = sources_view(project)
            emit_json(payload)
            return 0
        out = console()
        if project.using_example:
            out.print("[yellow]note:[/] env file missing; showing values from the example file")
        if sources:
            # git config --show-origin style: origin first, then key=value (long values stay greppable)
            rows = sources_view(project)
            width = max(len(r["source"]) for r in rows)
            for row in rows:
                out.print(escape(f"{row['source']:<{width}}  {row['key']}={row['value']}"), soft_wrap=True)
            return 0
        view = resolved_view(project)
        out.print(escape(yaml.safe_dump({"stack": view["stack"], "env": view["env"]}, sort_keys=False)), soft_wrap=True)
        return 0
