"""The REST API's routes (under /api/v1/); its shared helpers live in core.api."""
