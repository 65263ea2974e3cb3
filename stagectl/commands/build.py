"""`stagectl build`: build the local images of the stack's services (for engines without a registry)."""

from __future__ import annotations

import typer

from stagectl import context
from stagectl.output import console, emit_json


def register(app: typer.Typer) -> None:
    @app.command()
    def build(
        force: bool = typer.Option(False, "--force", help="Rebuild even when an image's inputs are unchanged."),
        json_out: bool = typer.Option(False, "--json", help="Machine output: one record per image."),
    ) -> int:
        """Build the images the compose backend runs where upstream ones cannot be pulled (a cache hit when nothing changed)."""
        from stagectl.images.build import build_images

        project = context.get_project(allow_example=True)  # only the service list is read
        services = [n for n, s in project.stack.services.items() if s.enabled]
        out = console()

        def say(name: str, what: str) -> None:
            if what == "building" and not json_out:
                out.print(f"building {name} …")

        result = build_images(services, project.root, work_dir=project.root / project.stack.state_dir / "images",
                              force=force, on_progress=say)
        if json_out:
            emit_json({"total_s": result.total_s, "images": [
                {"name": i.name, "tag": i.tag, "action": i.action, "id": i.image_id, "seconds": i.seconds}
                for i in result.images]})
            return 0
        for image in result.images:
            out.print(f"{image.action:7} {image.tag:45} {image.image_id[7:19]} {image.seconds:7.2f}s")
        out.print(f"[green]built[/]: {len(result.built)} of {len(result.images)} image(s) in {result.total_s:.2f}s")
        return 0
