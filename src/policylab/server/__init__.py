"""The HTTP API and dashboard: ``create_app(ServerConfig(...))`` gives the ASGI app ``policylab serve`` runs."""

from policylab.server.app import create_app
from policylab.server.config import BindError, ServerConfig, check_bind, discover_models

__all__ = ["BindError", "ServerConfig", "check_bind", "create_app", "discover_models"]
