"""The coordinator's fast message-to-JSON conversion equals json_format's,
over every message of the contracts filled at random (every field kind,
nested, repeated and map fields, well-known types, floats JSON cannot
write as numbers, enum values the contract does not name), and what it
makes parses back to the same message."""

from __future__ import annotations

import importlib
import math
import pkgutil
import random

import pytest
from google.protobuf import descriptor, json_format, message_factory, struct_pb2

import mis.v1
from mis.v1 import common_pb2
from services.common.protojson import message_to_dict

FieldDescriptor = descriptor.FieldDescriptor
MESSAGES = sorted(
    (message for module in pkgutil.iter_modules(mis.v1.__path__) if module.name.endswith("_pb2")
     for message in importlib.import_module(f"mis.v1.{module.name}").DESCRIPTOR.message_types_by_name.values()),
    key=lambda m: m.full_name)
SPECIAL_FLOATS = (math.inf, -math.inf, math.nan, 0.1, -2.5e-7, 3.4e38)


def _value(field, rng: random.Random):
    kind = field.cpp_type
    if kind == FieldDescriptor.CPPTYPE_STRING:
        return rng.randbytes(5) if field.type == FieldDescriptor.TYPE_BYTES else rng.choice(["", "knife", "ümlaut"])
    if kind == FieldDescriptor.CPPTYPE_BOOL:
        return rng.random() < 0.5
    if kind == FieldDescriptor.CPPTYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]
        return rng.choice(numbers + ([99] if not field.enum_type.is_closed else []))
    if kind in (FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64):
        return rng.choice([0, 7, -3, 2**31 - 1] + ([-(2**62)] if kind == FieldDescriptor.CPPTYPE_INT64 else []))
    if kind in (FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_UINT64):
        return rng.choice([0, 9, 2**32 - 1] + ([2**63] if kind == FieldDescriptor.CPPTYPE_UINT64 else []))
    return rng.choice(SPECIAL_FLOATS + (rng.uniform(-1e3, 1e3),))


def fill(message, rng: random.Random, depth: int = 0) -> None:
    """Set about half of the message's fields, every kind, to depth 3."""
    if message.DESCRIPTOR.full_name == "google.protobuf.Struct":
        message.update({"temperature": 0.5, "stop": ["a", "b"], "nested": {"on": True}, "none": None})
        return
    if message.DESCRIPTOR.full_name.startswith("google.protobuf."):
        if hasattr(message, "FromSeconds"):
            message.FromSeconds(rng.randrange(0, 2**31))
        return
    for field in message.DESCRIPTOR.fields:
        if rng.random() < 0.4 or (depth >= 3 and field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE):
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field, value_field = (field.message_type.fields_by_name[n] for n in ("key", "value"))
            target = getattr(message, field.name)
            for _ in range(2):
                key = _value(key_field, rng)
                if value_field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
                    fill(target[key], rng, depth + 1)
                else:
                    target[key] = _value(value_field, rng)
        elif field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
            if field.is_repeated:
                for _ in range(2):
                    fill(getattr(message, field.name).add(), rng, depth + 1)
            else:
                getattr(message, field.name).SetInParent()
                fill(getattr(message, field.name), rng, depth + 1)
        elif field.is_repeated:
            getattr(message, field.name).extend(_value(field, rng) for _ in range(3))
        else:
            setattr(message, field.name, _value(field, rng))


def same(a, b) -> bool:
    """Equal, NaN included (json_format writes it as the string 'NaN')."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("message_type", MESSAGES, ids=lambda m: m.full_name)
def test_every_contract_message_converts_as_json_format_does(message_type):
    cls = message_factory.GetMessageClass(message_type)
    assert len(MESSAGES) > 100  # every contract is read, not one module
    for seed in range(12):
        message = cls()
        fill(message, random.Random(f"{message_type.full_name}-{seed}"))
        expected = json_format.MessageToDict(message, preserving_proto_field_name=True)
        made = message_to_dict(message)
        assert same(made, expected), (made, expected)
        assert json_format.ParseDict(made, cls(), ignore_unknown_fields=True) == json_format.ParseDict(
            expected, cls(), ignore_unknown_fields=True)


def test_the_empty_message_and_the_types_json_format_writes_its_own_way():
    assert message_to_dict(struct_pb2.Struct()) == {}
    value = struct_pb2.Value(list_value=struct_pb2.ListValue(values=[struct_pb2.Value(string_value="x")]))
    assert message_to_dict(value) == ["x"]
    assert message_to_dict(common_pb2.Seed()) == {}


def _probe_class():
    """A message type made here, with what the contracts lack: a bool-keyed
    map, float and double fields, a closed (proto2) enum."""
    from google.protobuf import descriptor_pb2, descriptor_pool
    proto = descriptor_pb2.FileDescriptorProto(name="probe.proto", package="probe", syntax="proto2")
    enum = proto.enum_type.add(name="Closed")
    enum.value.add(name="CLOSED_A", number=1)
    probe = proto.message_type.add(name="Probe")
    entry = probe.nested_type.add(name="FlagsEntry")
    entry.options.map_entry = True
    Field = descriptor_pb2.FieldDescriptorProto
    entry.field.add(name="key", number=1, type=Field.TYPE_BOOL, label=Field.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=Field.TYPE_STRING, label=Field.LABEL_OPTIONAL)
    probe.field.add(name="flags", number=1, type=Field.TYPE_MESSAGE, label=Field.LABEL_REPEATED,
                    type_name=".probe.Probe.FlagsEntry")
    probe.field.add(name="single", number=2, type=Field.TYPE_FLOAT, label=Field.LABEL_REPEATED)
    probe.field.add(name="double", number=3, type=Field.TYPE_DOUBLE, label=Field.LABEL_REPEATED)
    probe.field.add(name="closed", number=4, type=Field.TYPE_ENUM, label=Field.LABEL_OPTIONAL,
                    type_name=".probe.Closed")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("probe.Probe"))


def test_bool_map_keys_special_floats_and_closed_enums_as_json_format():
    probe = _probe_class()(single=[0.1, -math.inf, math.inf, 3.4e38], double=[0.1, -math.inf, math.nan],
                           closed=1)
    probe.flags[True] = "on"
    probe.flags[False] = "off"
    expected = json_format.MessageToDict(probe, preserving_proto_field_name=True)
    assert expected["flags"] == {"true": "on", "false": "off"}
    assert expected["single"][:3] == [0.1, "-Infinity", "Infinity"] and expected["closed"] == "CLOSED_A"
    assert same(message_to_dict(probe), expected)
