# libsandbox_embed_text(<file> <symbol> <header>): writes <header> (a path
# relative to the build tree) declaring `inline constexpr char <symbol>[]`,
# the text of <file> as a raw string literal, so a script ships inside the
# library yet stays a real file in the source tree. CMake re-runs when the
# file changes.
set(_libsandbox_embed_text_template ${CMAKE_CURRENT_LIST_DIR}/embedded_text.h.in)

function(libsandbox_embed_text file symbol header)
  get_filename_component(path ${file} ABSOLUTE)
  file(READ ${path} EMBEDDED_TEXT)
  set(EMBEDDED_DELIMITER "LSEMBED")
  string(FIND "${EMBEDDED_TEXT}" ")${EMBEDDED_DELIMITER}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${file} holds the raw string delimiter of libsandbox_embed_text")
  endif()
  set(EMBEDDED_SOURCE ${file})
  set(EMBEDDED_SYMBOL ${symbol})
  configure_file(${_libsandbox_embed_text_template} ${PROJECT_BINARY_DIR}/${header} @ONLY)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${path})
endfunction()
