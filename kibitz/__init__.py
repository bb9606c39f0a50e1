"""Kibitz: self-hosted discussions and reader subscriptions for news sites."""

from __future__ import annotations

__version__ = "0.1.0"
