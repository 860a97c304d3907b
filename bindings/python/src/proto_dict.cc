#include "bindings/python/src/proto_dict.h"

#include <Python.h>

#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace libsandbox::python {
namespace {

namespace pb = google::protobuf;
namespace py = pybind11;
using Field = pb::FieldDescriptor;

absl::Status WrongType(absl::string_view where, absl::string_view want, py::handle got) {
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": expected ", want, ", got ", Py_TYPE(got.ptr())->tp_name));
}

absl::Status FillMessage(py::handle dict, pb::Message* message, const std::string& prefix);

// Reads a Python int; false when it does not fit. Clears the Python error so
// none is left pending behind a returned Status.
bool ReadInt64(PyObject* o, int64_t* out) {
  int overflow = 0;
  const long long n = PyLong_AsLongLongAndOverflow(o, &overflow);
  if (overflow != 0 || (n == -1 && PyErr_Occurred())) {
    PyErr_Clear();
    return false;
  }
  *out = n;
  return true;
}

// Stores `value` into a singular field, or appends it to a repeated one.
absl::Status StoreValue(py::handle value, const Field* field, pb::Message* message,
                        const std::string& where) {
  const pb::Reflection* r = message->GetReflection();
  const bool repeated = field->is_repeated();
  PyObject* o = value.ptr();
  switch (field->cpp_type()) {
    case Field::CPPTYPE_BOOL: {
      if (!PyBool_Check(o)) return WrongType(where, "bool", value);
      const bool b = o == Py_True;
      repeated ? r->AddBool(message, field, b) : r->SetBool(message, field, b);
      return absl::OkStatus();
    }
    case Field::CPPTYPE_INT32:
    case Field::CPPTYPE_INT64:
    case Field::CPPTYPE_UINT32:
    case Field::CPPTYPE_UINT64: {
      // bool is an int subclass in Python; a bool here is a caller's bug.
      if (!PyLong_Check(o) || PyBool_Check(o)) return WrongType(where, "int", value);
      int64_t n = 0;
      const Field::CppType t = field->cpp_type();
      const int64_t lo = (t == Field::CPPTYPE_INT32)   ? std::numeric_limits<int32_t>::min()
                         : (t == Field::CPPTYPE_INT64) ? std::numeric_limits<int64_t>::min()
                                                       : 0;
      const int64_t hi = (t == Field::CPPTYPE_INT32)    ? std::numeric_limits<int32_t>::max()
                         : (t == Field::CPPTYPE_UINT32) ? std::numeric_limits<uint32_t>::max()
                                                        : std::numeric_limits<int64_t>::max();
      if (!ReadInt64(o, &n) || n < lo || n > hi) {
        return absl::OutOfRangeError(absl::StrCat(where, ": out of range [", lo, ", ", hi, "]"));
      }
      switch (t) {
        case Field::CPPTYPE_INT32:
          repeated ? r->AddInt32(message, field, static_cast<int32_t>(n))
                   : r->SetInt32(message, field, static_cast<int32_t>(n));
          break;
        case Field::CPPTYPE_INT64:
          repeated ? r->AddInt64(message, field, n) : r->SetInt64(message, field, n);
          break;
        case Field::CPPTYPE_UINT32:
          repeated ? r->AddUInt32(message, field, static_cast<uint32_t>(n))
                   : r->SetUInt32(message, field, static_cast<uint32_t>(n));
          break;
        default:
          repeated ? r->AddUInt64(message, field, static_cast<uint64_t>(n))
                   : r->SetUInt64(message, field, static_cast<uint64_t>(n));
          break;
      }
      return absl::OkStatus();
    }
    case Field::CPPTYPE_DOUBLE:
    case Field::CPPTYPE_FLOAT: {
      if (!(PyFloat_Check(o) || PyLong_Check(o)) || PyBool_Check(o)) {
        return WrongType(where, "float", value);
      }
      const double d = PyFloat_AsDouble(o);
      if (d == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return absl::OutOfRangeError(absl::StrCat(where, ": number is too large"));
      }
      if (field->cpp_type() == Field::CPPTYPE_DOUBLE) {
        repeated ? r->AddDouble(message, field, d) : r->SetDouble(message, field, d);
      } else {
        const auto f = static_cast<float>(d);
        repeated ? r->AddFloat(message, field, f) : r->SetFloat(message, field, f);
      }
      return absl::OkStatus();
    }
    case Field::CPPTYPE_STRING: {
      std::string s;
      if (field->type() == Field::TYPE_BYTES) {
        if (!PyBytes_Check(o)) return WrongType(where, "bytes", value);
        s.assign(PyBytes_AS_STRING(o), static_cast<size_t>(PyBytes_GET_SIZE(o)));
      } else {
        if (!PyUnicode_Check(o)) return WrongType(where, "str", value);
        Py_ssize_t size = 0;
        const char* data = PyUnicode_AsUTF8AndSize(o, &size);
        if (data == nullptr) {
          PyErr_Clear();  // lone surrogates have no UTF-8 form
          return absl::InvalidArgumentError(absl::StrCat(where, ": not encodable as UTF-8"));
        }
        s.assign(data, static_cast<size_t>(size));
      }
      repeated ? r->AddString(message, field, std::move(s))
               : r->SetString(message, field, std::move(s));
      return absl::OkStatus();
    }
    case Field::CPPTYPE_ENUM: {
      const pb::EnumDescriptor* e = field->enum_type();
      const pb::EnumValueDescriptor* v = nullptr;
      if (PyUnicode_Check(o)) {
        Py_ssize_t size = 0;
        const char* data = PyUnicode_AsUTF8AndSize(o, &size);
        if (data == nullptr) PyErr_Clear();
        if (data != nullptr) v = e->FindValueByName(std::string(data, size));
      } else if (PyLong_Check(o) && !PyBool_Check(o)) {
        int64_t n = 0;
        if (ReadInt64(o, &n) && n >= std::numeric_limits<int32_t>::min() &&
            n <= std::numeric_limits<int32_t>::max()) {
          v = e->FindValueByNumber(static_cast<int>(n));
        }
      } else {
        return WrongType(where, "str or int", value);
      }
      if (v == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": not a value of ", e->name(), ": ",
                                                       py::repr(value).cast<std::string>()));
      }
      repeated ? r->AddEnum(message, field, v) : r->SetEnum(message, field, v);
      return absl::OkStatus();
    }
    case Field::CPPTYPE_MESSAGE: {
      pb::Message* sub =
          repeated ? r->AddMessage(message, field) : r->MutableMessage(message, field);
      return FillMessage(value, sub, absl::StrCat(where, "."));
    }
  }
  return absl::InternalError(absl::StrCat(where, ": unsupported field type"));
}

absl::Status StoreField(py::handle value, const Field* field, pb::Message* message,
                        const std::string& where) {
  if (value.is_none()) {
    if (field->has_presence() && !field->is_repeated()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(where, ": may not be None"));
  }
  if (field->is_map()) {
    if (!PyDict_Check(value.ptr())) return WrongType(where, "dict", value);
    const Field* key_field = field->message_type()->map_key();
    const Field* value_field = field->message_type()->map_value();
    for (auto [k, v] : py::reinterpret_borrow<py::dict>(value)) {
      pb::Message* entry = message->GetReflection()->AddMessage(message, field);
      const std::string entry_where =
          absl::StrCat(where, "[", py::repr(k).cast<std::string>(), "]");
      if (absl::Status s = StoreValue(k, key_field, entry, entry_where + " key"); !s.ok()) return s;
      if (absl::Status s = StoreValue(v, value_field, entry, entry_where); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (field->is_repeated()) {
    if (!PyList_Check(value.ptr()) && !PyTuple_Check(value.ptr())) {
      return WrongType(where, "list or tuple", value);
    }
    size_t i = 0;
    for (py::handle item : value) {
      if (absl::Status s = StoreValue(item, field, message, absl::StrCat(where, "[", i++, "]"));
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }
  return StoreValue(value, field, message, where);
}

absl::Status FillMessage(py::handle dict, pb::Message* message, const std::string& prefix) {
  const std::string name = prefix.empty() ? message->GetDescriptor()->name() : prefix;
  if (!PyDict_Check(dict.ptr())) return WrongType(name, "dict", dict);
  const pb::Descriptor* d = message->GetDescriptor();
  for (auto [key, value] : py::reinterpret_borrow<py::dict>(dict)) {
    if (!PyUnicode_Check(key.ptr())) return WrongType(name + " key", "str", key);
    const std::string field_name = key.cast<std::string>();
    const Field* field = d->FindFieldByName(field_name);
    if (field == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(d->name(), ": unknown field '", field_name, "'"));
    }
    if (absl::Status s = StoreField(value, field, message, absl::StrCat(prefix, field_name));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

py::object Text(const std::string& s) {
  // Sandbox output may be any bytes: replace, never raise.
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(o);
}

// One value of `field`: the singular one, or element `index` of a repeated one.
py::object ValueToPy(const pb::Message& message, const Field* field, int index) {
  const pb::Reflection* r = message.GetReflection();
  const bool rep = index >= 0;
  switch (field->cpp_type()) {
    case Field::CPPTYPE_BOOL:
      return py::bool_(rep ? r->GetRepeatedBool(message, field, index)
                           : r->GetBool(message, field));
    case Field::CPPTYPE_INT32:
      return py::int_(rep ? r->GetRepeatedInt32(message, field, index)
                          : r->GetInt32(message, field));
    case Field::CPPTYPE_INT64:
      return py::int_(rep ? r->GetRepeatedInt64(message, field, index)
                          : r->GetInt64(message, field));
    case Field::CPPTYPE_UINT32:
      return py::int_(rep ? r->GetRepeatedUInt32(message, field, index)
                          : r->GetUInt32(message, field));
    case Field::CPPTYPE_UINT64:
      return py::int_(rep ? r->GetRepeatedUInt64(message, field, index)
                          : r->GetUInt64(message, field));
    case Field::CPPTYPE_DOUBLE:
      return py::float_(rep ? r->GetRepeatedDouble(message, field, index)
                            : r->GetDouble(message, field));
    case Field::CPPTYPE_FLOAT:
      return py::float_(rep ? r->GetRepeatedFloat(message, field, index)
                            : r->GetFloat(message, field));
    case Field::CPPTYPE_STRING: {
      const std::string s =
          rep ? r->GetRepeatedString(message, field, index) : r->GetString(message, field);
      if (field->type() == Field::TYPE_BYTES) return py::bytes(s);
      return Text(s);
    }
    case Field::CPPTYPE_ENUM: {
      const pb::EnumValueDescriptor* v =
          rep ? r->GetRepeatedEnum(message, field, index) : r->GetEnum(message, field);
      return py::str(v->name());
    }
    case Field::CPPTYPE_MESSAGE:
      return MessageToDict(rep ? r->GetRepeatedMessage(message, field, index)
                               : r->GetMessage(message, field));
  }
  return py::none();
}

}  // namespace

absl::Status DictToMessage(py::handle dict, pb::Message* message) {
  return FillMessage(dict, message, "");
}

py::dict MessageToDict(const pb::Message& message) {
  const pb::Descriptor* d = message.GetDescriptor();
  const pb::Reflection* r = message.GetReflection();
  py::dict out;
  for (int i = 0; i < d->field_count(); ++i) {
    const Field* field = d->field(i);
    py::str key(field->name());
    if (field->is_map()) {
      py::dict map;
      const Field* key_field = field->message_type()->map_key();
      const Field* value_field = field->message_type()->map_value();
      for (int j = 0; j < r->FieldSize(message, field); ++j) {
        const pb::Message& entry = r->GetRepeatedMessage(message, field, j);
        map[ValueToPy(entry, key_field, -1)] = ValueToPy(entry, value_field, -1);
      }
      out[key] = std::move(map);
    } else if (field->is_repeated()) {
      py::list list;
      for (int j = 0; j < r->FieldSize(message, field); ++j) {
        list.append(ValueToPy(message, field, j));
      }
      out[key] = std::move(list);
    } else if (field->has_presence() && !r->HasField(message, field)) {
      out[key] = py::none();
    } else {
      out[key] = ValueToPy(message, field, -1);
    }
  }
  return out;
}

}  // namespace libsandbox::python
