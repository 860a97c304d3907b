// Conversion between Python dicts and the typed protobuf messages of
// config.proto. Done by reflection so the module follows the .proto without
// hand-written glue per field.
#ifndef LIBSANDBOX_BINDINGS_PYTHON_PROTO_DICT_H_
#define LIBSANDBOX_BINDINGS_PYTHON_PROTO_DICT_H_

#include <google/protobuf/message.h>
#include <pybind11/pybind11.h>

#include "absl/status/status.h"

namespace libsandbox::python {

// Fills `message` from a dict keyed by field name. Strict: unknown keys,
// wrong types and out-of-range numbers are InvalidArgument (type or shape)
// or OutOfRange (numbers); nothing is coerced. None is accepted only for
// fields with presence (sub-messages, `optional` scalars) and leaves them
// unset. Needs the GIL.
absl::Status DictToMessage(pybind11::handle dict, google::protobuf::Message* message);

// A dict with every field of `message`: unset fields with presence are None,
// enums are their value names, repeated fields lists, maps dicts. `string`
// fields are decoded as UTF-8 with invalid bytes replaced, because their
// content may come from the sandbox. Needs the GIL.
pybind11::dict MessageToDict(const google::protobuf::Message& message);

}  // namespace libsandbox::python

#endif  // LIBSANDBOX_BINDINGS_PYTHON_PROTO_DICT_H_
