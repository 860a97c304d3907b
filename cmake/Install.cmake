# find_package(libsandbox) and pkg-config support for C++ hosts.
include(CMakePackageConfigHelpers)
# libsandbox.a is the api layer; the layers below it are static libraries of
# their own (libsandbox/CMakeLists.txt), installed beside it.
set(_libsandbox_layers libsandbox libsandbox_session libsandbox_run libsandbox_host
    libsandbox_rules libsandbox_base libsandbox_proto)
install(TARGETS ${_libsandbox_layers} EXPORT libsandboxTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY libsandbox/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_BINARY_DIR}/libsandbox/proto/config.pb.h
              ${CMAKE_BINARY_DIR}/libsandbox/proto/policy.pb.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/libsandbox/proto)
install(EXPORT libsandboxTargets NAMESPACE libsandbox::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/libsandbox)
configure_package_config_file(cmake/libsandboxConfig.cmake.in
  ${CMAKE_BINARY_DIR}/libsandboxConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/libsandbox)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/libsandboxConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/libsandboxConfig.cmake
        ${CMAKE_BINARY_DIR}/libsandboxConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/libsandbox)
# The libraries are static, so pkg-config users need every dependency of the
# core: derive the list from what the layers link, so it never goes stale.
set(_libsandbox_deps)
set(LIBSANDBOX_PC_LIBS)
foreach(_layer IN LISTS _libsandbox_layers)
  get_target_property(_layer_deps ${_layer} LINK_LIBRARIES)
  list(APPEND _libsandbox_deps ${_layer_deps})
  get_target_property(_layer_file ${_layer} OUTPUT_NAME)
  string(APPEND LIBSANDBOX_PC_LIBS " -l${_layer_file}")
endforeach()
set(_libsandbox_requires protobuf)
foreach(_dep IN LISTS _libsandbox_deps)
  if(_dep MATCHES "^absl::(.+)$")
    list(APPEND _libsandbox_requires "absl_${CMAKE_MATCH_1}")
  elseif(_dep STREQUAL "PkgConfig::SECCOMP")
    list(APPEND _libsandbox_requires libseccomp)
  elseif(_dep STREQUAL "PkgConfig::LIBCAP")
    list(APPEND _libsandbox_requires libcap)
  endif()
endforeach()
list(REMOVE_DUPLICATES _libsandbox_requires)
list(JOIN _libsandbox_requires " " LIBSANDBOX_PC_REQUIRES)
# Relative to the .pc file, so that `cmake --install --prefix DIR` works.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(LIBSANDBOX_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  string(REGEX REPLACE "[^/]+" ".." _up "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
  set(LIBSANDBOX_PC_PREFIX "\${pcfiledir}/${_up}")
endif()
configure_file(cmake/libsandbox.pc.in ${CMAKE_BINARY_DIR}/libsandbox.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/libsandbox.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
