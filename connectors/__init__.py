"""Source connectors: one module per platform, joined to the core only through `base`."""

from connectors.base import (
    BrandIdentity,
    BrandReply,
    Connector,
    FeedCursor,
    MentionRecord,
    Narrowing,
    PollResult,
)
from connectors.errors import (
    AuthError,
    ConnectorError,
    ConnectorUnavailable,
    MalformedResponse,
    NotFoundError,
    RateLimited,
    TransientError,
)
from connectors.registry import REGISTRY, connector_class, known_types

__all__ = [
    "REGISTRY",
    "AuthError",
    "BrandIdentity",
    "BrandReply",
    "Connector",
    "ConnectorError",
    "ConnectorUnavailable",
    "FeedCursor",
    "MalformedResponse",
    "MentionRecord",
    "Narrowing",
    "NotFoundError",
    "PollResult",
    "RateLimited",
    "TransientError",
    "connector_class",
    "known_types",
]
