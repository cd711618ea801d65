"""API documentation pages served without any CDN (robots are often offline).

Swagger UI and ReDoc assets come from the ``fastapi-offline`` package (pinned in
requirements-server.txt), served from this server under :data:`ASSETS_PATH`. Without that
package ``/docs`` is a plain page pointing at ``/openapi.json`` instead of a blank page.
"""

from __future__ import annotations

import html
import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def offline_assets_dir() -> Path | None:
    """Folder holding the Swagger UI / ReDoc files of ``fastapi-offline``, None if not installed."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if all((folder / name).is_file() for name in ASSET_FILES) else None


def _plain_docs_page(app: FastAPI) -> HTMLResponse:
    rows = "".join(f"<li><code>{html.escape(', '.join(sorted(getattr(route, 'methods', None) or [])))} "
                   f"{html.escape(getattr(route, 'path', ''))}</code></li>"
                   for route in app.routes if getattr(route, "include_in_schema", False))
    return HTMLResponse(f"<!doctype html><html><head><title>{html.escape(app.title)}</title></head><body>"
                        f"<h1>{html.escape(app.title)}</h1><p>{html.escape(app.description)}</p>"
                        f"<ul>{rows}</ul><p>The OpenAPI schema is at <a href=\"{app.openapi_url}\">"
                        f"{app.openapi_url}</a>. The interactive page needs the <code>fastapi-offline</code> "
                        "package (<code>pip install -r requirements-server.txt</code>).</p></body></html>")


def install_docs(app: FastAPI) -> bool:
    """Add ``/docs`` (Swagger UI) and ``/redoc`` to ``app``, built with ``docs_url=None, redoc_url=None``.

    Returns:
        True when the interactive pages are served from local assets, False for the plain fallback.
    """
    assets = offline_assets_dir()
    openapi_url = app.openapi_url or "/openapi.json"
    if assets is None:
        @app.get("/docs", include_in_schema=False)
        def plain_docs() -> HTMLResponse:
            return _plain_docs_page(app)

        return False
    app.mount(ASSETS_PATH, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} - docs",
                                   swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS_PATH}/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    def redoc_docs() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS_PATH}/favicon.png", with_google_fonts=False)

    return True
