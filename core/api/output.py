"""Output serializers that read a row once per field, without DRF's per-field machinery.

A page of 50 rows of 30 fields costs DRF about 1,500 generic attribute look-ups (dotted
sources, callables, mappings, PKOnlyObject) and builds every serializer's fields again
for each request. `PlainOutput` works out, once per class, how each field is read and
shown, and then fills each row's dict directly. The values are those DRF gives: each
field's own `to_representation` makes them, except where that is `str`, `int` or the
value itself; anything it does not recognise goes through DRF's own field unchanged.
The declared fields stay what the API schema documents.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Manager
from rest_framework import fields as drf_fields
from rest_framework import serializers
from rest_framework.relations import PKOnlyObject, PrimaryKeyRelatedField

_VALUE, _METHOD, _MANY, _ONE, _DRF = range(5)
_PLANS: dict[type, list[tuple[str, int, Any, Any]]] = {}


# Fields whose to_representation depends only on the value and the field's own options, never on
# the request (a FileField's URL, for one, does): each may be shown by a field made once per class.
_STATELESS = (drf_fields.BooleanField, drf_fields.ChoiceField, drf_fields.DateField, drf_fields.DateTimeField,
              drf_fields.DecimalField, drf_fields.FloatField, drf_fields.BigIntegerField, drf_fields.EmailField)
_UNREADABLE = object()  # the field is read by DRF's own machinery


def _converter(field: drf_fields.Field) -> Any:
    """How a field shows a value that is not None, the same as its to_representation: a function,
    None for the value as it is, or _UNREADABLE."""
    kind = type(field)
    if kind is drf_fields.CharField:
        return str
    if kind is drf_fields.IntegerField:
        return int
    if kind is drf_fields.UUIDField:
        return str if field.uuid_format == "hex_verbose" else field.to_representation
    if kind is drf_fields.JSONField:
        return field.to_representation if field.binary else None
    return field.to_representation if kind in _STATELESS else _UNREADABLE


class PlainOutput(serializers.Serializer):
    """Mix into an output (read-only) serializer, before the DRF base class."""

    def to_representation(self, instance: Any) -> dict[str, Any]:
        plan = _PLANS.get(type(self)) or self._plan()
        row: dict[str, Any] = {}
        for name, kind, source, show in plan:
            if kind == _VALUE:
                value = getattr(instance, source)
                row[name] = value if value is None or show is None else show(value)
            elif kind == _METHOD:
                row[name] = getattr(self, source)(instance)
            elif kind == _MANY:
                items = getattr(instance, source)
                child = self._child(name, show)
                row[name] = [child.to_representation(item)
                             for item in (items.all() if isinstance(items, Manager) else items)]
            elif kind == _ONE:
                try:
                    value = getattr(instance, source)
                except AttributeError:  # DRF's reading of a missing related row: the field's default
                    value = None
                row[name] = None if value is None else self._child(name, show).to_representation(value)
            else:
                row[name] = self._drf_field(self.fields[name], instance)
        return row

    def _child(self, name: str, child_class: type[PlainOutput]) -> PlainOutput:
        """One nested serializer per field for this serializer's rows, sharing its context."""
        children = self.__dict__.setdefault("_plain_children", {})
        if name not in children:
            children[name] = child_class(context=self.context)
        return children[name]

    @staticmethod
    def _drf_field(field: drf_fields.Field, instance: Any) -> Any:
        """What DRF's Serializer.to_representation gives for one field (it skips none here)."""
        attribute = field.get_attribute(instance)
        check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
        return None if check_for_none is None else field.to_representation(attribute)

    def _plan(self) -> list[tuple[str, int, Any, Any]]:
        """(name, how it is read, attribute or method, how it is shown) for each readable field,
        from a fresh instance's fields; kept for the class."""
        model = getattr(getattr(type(self), "Meta", None), "model", None)
        plan: list[tuple[str, int, Any, Any]] = []
        for name, field in type(self)().fields.items():
            if field.write_only:
                continue
            plan.append((name, *self._reading(field, model)))
        _PLANS[type(self)] = plan
        return plan

    @staticmethod
    def _reading(field: drf_fields.Field, model: Any) -> tuple[int, Any, Any]:
        if isinstance(field, serializers.SerializerMethodField):
            return _METHOD, field.method_name, None
        if len(field.source_attrs) != 1 or model is None:
            return _DRF, None, None
        source = field.source_attrs[0]
        if isinstance(field, serializers.ListSerializer):
            if isinstance(field.child, PlainOutput):
                return _MANY, source, type(field.child)
            return _DRF, None, None
        if isinstance(field, PlainOutput):
            plain_default = field.default is None and field.allow_null
            return (_ONE, source, type(field)) if plain_default else (_DRF, None, None)
        try:
            model_field = model._meta.get_field(source)
        except FieldDoesNotExist:
            return _DRF, None, None
        if isinstance(field, PrimaryKeyRelatedField):
            if field.pk_field is None and field.use_pk_only_optimization() and model_field.concrete:
                return _VALUE, model_field.attname, None  # DRF shows the related row's key as it is
            return _DRF, None, None
        # A foreign key read by its column (license_id) is a plain value; by its name, a related row.
        if not model_field.concrete or (model_field.is_relation and source != model_field.attname):
            return _DRF, None, None
        show = _converter(field)
        return (_DRF, None, None) if show is _UNREADABLE else (_VALUE, source, show)
