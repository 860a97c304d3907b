# Writes a C++ header holding the bytes of IN as `NAME` (an array of
# unsigned char), so a helper built with the project ships inside the library.
# Usage: cmake -DIN=file -DOUT=header.h -DNAME=kSymbol -P EmbedFile.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" len)
math(EXPR bytes "${len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" body "${body}")
file(WRITE "${OUT}.tmp" "// Generated from ${IN}; do not edit.\n#pragma once\ninline constexpr unsigned char ${NAME}[${bytes}] = {\n${body}};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
