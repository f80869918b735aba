"""Applications built on scenegen's public API."""
