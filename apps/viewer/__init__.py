"""scenegen's desktop viewer and editor (`scenegen view`), built only on scenegen's public API."""
