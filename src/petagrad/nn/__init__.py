"""nn layer: neural-network building blocks written against petagrad's public API."""
from petagrad.nn import functional  # noqa: F401
