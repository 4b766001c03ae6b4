"""Protobuf messages as the JSON objects `json_format.MessageToDict(message,
preserving_proto_field_name=True)` makes of them, at a fraction of its cost.

Every stage result a run stores is converted once, and json_format's
field-by-field dispatch was the coordinator's largest CPU cost per sample.
Here each message type's conversion is worked out once, from its
descriptor, and then applied: strings, bools and 32-bit integers pass as
they are, enums are looked up, and what json_format treats specially (the
well-known types, wrappers, extensions, 64-bit integers, floats, bytes) is
converted as json_format does. `tests/foundation/test_protojson.py` holds
the two equal over every message of the contracts, filled at random."""

from __future__ import annotations

import base64
import math
from typing import Any, Callable

from google.protobuf import descriptor as _descriptor
from google.protobuf import json_format
from google.protobuf.internal import type_checkers

FieldDescriptor = _descriptor.FieldDescriptor
Convert = Callable[[Any], Any]

_WELL_KNOWN_PACKAGE = "google.protobuf"
_IDENTITY = {FieldDescriptor.CPPTYPE_BOOL, FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_UINT32}
_converters: dict[str, Convert] = {}


def message_to_dict(message) -> Any:
    """The message's JSON object, equal to json_format's with proto field names."""
    return _message_converter(message.DESCRIPTOR)(message)


def _message_converter(descriptor) -> Convert:
    found = _converters.get(descriptor.full_name)
    if found is None:
        found = _converters[descriptor.full_name] = _build(descriptor)
    return found


def _as_json_format(message) -> Any:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _struct(message) -> dict:
    return {key: _value(value) for key, value in message.fields.items()}


def _value(message) -> Any:
    kind = message.WhichOneof("kind")
    if kind == "struct_value":
        return _struct(message.struct_value)
    if kind == "list_value":
        return [_value(item) for item in message.list_value.values]
    if kind == "number_value" and not math.isfinite(message.number_value):
        return _as_json_format(message)  # json_format refuses it, with its own error
    if kind is None or kind == "null_value":
        return None
    return getattr(message, kind)


# The well-known types stage results carry most, converted here; the others
# (wrappers, Any, FieldMask...) keep json_format's own JSON forms.
_NATIVE = {"google.protobuf.Struct": _struct, "google.protobuf.Value": _value,
           "google.protobuf.ListValue": lambda message: [_value(item) for item in message.values],
           # json_format's own conversion of these, without its printer around it.
           "google.protobuf.Timestamp": lambda message: message.ToJsonString(),
           "google.protobuf.Duration": lambda message: message.ToJsonString()}


def _build(descriptor) -> Convert:
    if descriptor.file.package == _WELL_KNOWN_PACKAGE:
        return _NATIVE.get(descriptor.full_name, _as_json_format)
    fields = {field.number: (field.name, _field_converter(field)) for field in descriptor.fields}

    def convert(message) -> dict:
        js = {}
        for field, value in message.ListFields():
            known = fields.get(field.number)
            if known is None or field.is_extension:
                return _as_json_format(message)
            name, convert_field = known
            js[name] = convert_field(value)
        return js
    return convert


def _field_converter(field) -> Convert:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_of = _single_converter(field.message_type.fields_by_name["value"])
        return lambda value: {_map_key(key): value_of(value[key]) for key in value}
    single = _single_converter(field)
    if field.is_repeated:
        return lambda value: [single(item) for item in value]
    return single


def _map_key(key) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _single_converter(field) -> Convert:
    kind = field.cpp_type
    if kind == FieldDescriptor.CPPTYPE_MESSAGE:
        return _Nested(field.message_type)
    if kind == FieldDescriptor.CPPTYPE_ENUM:
        return _enum_converter(field)
    if kind == FieldDescriptor.CPPTYPE_STRING:
        if field.type == FieldDescriptor.TYPE_BYTES:
            return lambda value: base64.b64encode(value).decode("utf-8")
        return _identity
    if kind in _IDENTITY:
        return _identity
    if kind in (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64):
        return str
    if kind == FieldDescriptor.CPPTYPE_FLOAT:
        return lambda value: _special_float(value) or type_checkers.ToShortestFloat(value)
    return lambda value: _special_float(value) or value  # double


class _Nested:
    """A message field's conversion, found on first use (a type may nest itself)."""

    __slots__ = ("descriptor", "convert")

    def __init__(self, descriptor) -> None:
        self.descriptor = descriptor
        self.convert: Convert | None = None

    def __call__(self, value) -> Any:
        if self.convert is None:
            self.convert = _message_converter(self.descriptor)
        return self.convert(value)


def _identity(value):
    return value


def _special_float(value: float) -> str | None:
    """json_format's names for the floats JSON has no number for."""
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    if math.isnan(value):
        return "NaN"
    return None


def _enum_converter(field) -> Convert:
    enum = field.enum_type
    if enum.full_name == "google.protobuf.NullValue":
        return lambda value: None
    names = {value.number: value.name for value in enum.values}
    # A number the enum does not name (open enums only: a closed one cannot
    # hold it) is written as the number, as json_format writes it.
    return lambda value: names.get(value, value)
