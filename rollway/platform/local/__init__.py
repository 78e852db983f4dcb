"""The local platform: OS processes behind HAProxy, scraped by Prometheus."""

from rollway.platform.local.platform import LocalPlatform, backend_name, server_name

__all__ = ["LocalPlatform", "backend_name", "server_name"]
