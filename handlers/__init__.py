"""Platform-neutral command handlers, one module per feature, composed here in one place."""
from __future__ import annotations

from typing import Any

from bot.render import Renderer
from bot.router import Router
from bot.scheduler import JobBuilder
from handlers import (
    cafes, cafes_admin, cafes_pairs, drafts, link, meet, moderation, notifications, onboarding, privacy, reveals, safety, threads,
)

FEATURES = (onboarding, threads, drafts, notifications, privacy, reveals, meet, cafes, cafes_admin, cafes_pairs,
            moderation,
            link, safety)


def build_router() -> Router:
    router = Router()
    for module in FEATURES:
        router.include(module)
    return router


def register_renderers(renderer: Renderer) -> None:
    for module in FEATURES:
        prefetchers = getattr(module, "PREFETCHERS", {})
        for kind, func in getattr(module, "RENDERERS", {}).items():
            renderer.register(kind, func, prefetchers.get(kind))


def feature_services() -> dict[str, Any]:
    services: dict[str, Any] = {}
    for module in FEATURES:
        services.update(getattr(module, "SERVICES", {}))
    return services


def job_builders() -> list[JobBuilder]:
    return [b for module in FEATURES for b in getattr(module, "JOB_BUILDERS", [])]
