"""The local platform: OS processes behind HAProxy, scraped by Prometheus."""

from rollway.platform.labels import backend_name, server_name
from rollway.platform.local.platform import LocalPlatform

__all__ = ["LocalPlatform", "backend_name", "server_name"]
