"""The OpenAI-compatible model (the stub in staging) via the official async client."""
from __future__ import annotations

import json
import logging

from openai import AsyncOpenAI

from .guard import Guard

log = logging.getLogger("inventario_dashboard.llm")


class LlmBadOutput(Exception):
    """The model answered, but not with the JSON the task asked for."""


class Llm:
    """Guarded chat completions that must return a JSON object."""

    def __init__(self, settings, guard: Guard):
        self.guard = guard
        self.model = settings.openai_model
        self.client = AsyncOpenAI(
            api_key=settings.openai_api_key.get_secret_value() or "unset",
            base_url=settings.openai_base_url, timeout=float(settings.openai_timeout),
            max_retries=0)   # retries are ours (tenacity) so the breaker sees every attempt

    async def close(self) -> None:
        await self.client.close()

    async def probe(self) -> None:
        """Health probe: list the models."""
        await self.client.models.list()

    async def complete_json(self, task: str, instructions: str, payload: dict) -> dict:
        """Ask the model for a JSON object for ``task``; raises LlmBadOutput on anything else."""
        async def run():
            return await self.client.chat.completions.create(
                model=self.model, temperature=0,
                response_format={"type": "json_object"},
                messages=[{"role": "system", "content": f"TASK: {task}\n{instructions}"},
                          {"role": "user", "content": json.dumps(payload)}])
        # Completions of a read-only task are idempotent, so they may be retried.
        response = await self.guard.read(run)
        try:
            content = response.choices[0].message.content or ""
            data = json.loads(content)
        except (IndexError, AttributeError, ValueError) as exc:
            raise LlmBadOutput(f"model output is not JSON: {type(exc).__name__}") from exc
        if not isinstance(data, dict):
            raise LlmBadOutput("model output is not a JSON object")
        return data
