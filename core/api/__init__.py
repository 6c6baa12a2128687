"""The REST API under /api/v1/: shared error handling, idempotency and routing."""

UUID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def validated(serializer_class: type, request: object) -> dict:
    """The request's data, checked by an input serializer (a ValidationError becomes the error body)."""
    serializer = serializer_class(data=request.data)  # type: ignore[attr-defined]
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
