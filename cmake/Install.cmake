# find_package(libsandbox) and pkg-config support for C++ hosts.
include(CMakePackageConfigHelpers)
install(TARGETS libsandbox libsandbox_proto EXPORT libsandboxTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY libsandbox/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_BINARY_DIR}/libsandbox/proto/config.pb.h
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
configure_file(cmake/libsandbox.pc.in ${CMAKE_BINARY_DIR}/libsandbox.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/libsandbox.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
