# Installation: libraries, headers, CMake package config (find_package(gort)
# gives gort::gort and gort::gort_static) and gort.pc. Included from the top.

include(CMakePackageConfigHelpers)

set(GORT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/gort)
set(GORT_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(TARGETS ${GORT_INSTALL_TARGETS}
    EXPORT gort-targets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(FILES ${PROJECT_SOURCE_DIR}/include/gort.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/gort/
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/gort
    FILES_MATCHING PATTERN "*.h")

install(EXPORT gort-targets NAMESPACE gort:: DESTINATION ${GORT_CMAKE_DIR})

if(GORT_SHARED)
    set(GORT_SHARED_BOOL TRUE)
else()
    set(GORT_SHARED_BOOL FALSE)
endif()
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/gort-config.cmake.in
    ${PROJECT_BINARY_DIR}/gort-config.cmake
    INSTALL_DESTINATION ${GORT_CMAKE_DIR})
# 0.x: only the same minor version is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/gort-config-version.cmake
    VERSION ${PROJECT_VERSION}
    COMPATIBILITY SameMinorVersion)
install(FILES
    ${PROJECT_BINARY_DIR}/gort-config.cmake
    ${PROJECT_BINARY_DIR}/gort-config-version.cmake
    DESTINATION ${GORT_CMAKE_DIR})

# gort.pc finds its prefix relative to itself (${pcfiledir}), so the installed
# tree can be moved, and `cmake --install --prefix` works.
if(IS_ABSOLUTE "${GORT_PC_DIR}")
    set(GORT_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
    file(RELATIVE_PATH GORT_PC_PREFIX
        "/gort-root/${GORT_PC_DIR}" "/gort-root")
    string(REGEX REPLACE "/$" "" GORT_PC_PREFIX "${GORT_PC_PREFIX}")
    set(GORT_PC_PREFIX "\${pcfiledir}/${GORT_PC_PREFIX}")
endif()
foreach(d LIBDIR INCLUDEDIR)
    if(IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
        set(GORT_PC_${d} "${CMAKE_INSTALL_${d}}")
    else()
        set(GORT_PC_${d} "\${prefix}/${CMAKE_INSTALL_${d}}")
    endif()
endforeach()
configure_file(${CMAKE_CURRENT_LIST_DIR}/gort.pc.in ${PROJECT_BINARY_DIR}/gort.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/gort.pc DESTINATION ${GORT_PC_DIR})
