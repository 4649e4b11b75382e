# The install_package test: cmake -P run.cmake with
#   -DGORT_BUILD_DIR=<gort build dir> -DGORT_WORK_DIR=<scratch dir under it>
#   -DGORT_C_COMPILER=<cc> -DGORT_EXTRA_FLAGS=<sanitizer flags, space-separated>
#   -DGORT_SHARED=ON|OFF
# Installs the build into ${GORT_WORK_DIR}/prefix, then builds hello.c (beside
# this file) against it with find_package(gort) (gort::gort and gort::gort_static)
# and with `cc $(pkg-config --cflags --libs gort)`, runs them and checks what they print.
cmake_minimum_required(VERSION 3.25)

foreach(v GORT_BUILD_DIR GORT_WORK_DIR GORT_C_COMPILER)
    if(NOT DEFINED ${v})
        message(FATAL_ERROR "run.cmake: -D${v}=... missing")
    endif()
endforeach()
set(src ${CMAKE_CURRENT_LIST_DIR})
set(prefix ${GORT_WORK_DIR}/prefix)
set(expected "gort install test: task 1 says 42")
set(flags_str "${GORT_EXTRA_FLAGS}")
separate_arguments(extra_flags UNIX_COMMAND "${GORT_EXTRA_FLAGS}")

function(run what)
    message(STATUS "install_package: ${what}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "install_package: ${what} failed (${rc}):\n${out}")
    endif()
    set(out "${out}" PARENT_SCOPE)
endfunction()

function(check_program what)
    run("run ${what}" ${CMAKE_COMMAND} -E env "LD_LIBRARY_PATH=${libdir}" ${ARGN})
    if(NOT out MATCHES "${expected}")
        message(FATAL_ERROR "install_package: ${what} printed:\n${out}\nexpected: ${expected}")
    endif()
    message(STATUS "install_package: ${what} printed: ${expected}")
endfunction()

file(REMOVE_RECURSE ${GORT_WORK_DIR})
file(MAKE_DIRECTORY ${GORT_WORK_DIR})

run("install to ${prefix}" ${CMAKE_COMMAND} --install ${GORT_BUILD_DIR} --prefix ${prefix})

foreach(f include/gort.h include/gort/task.h)
    if(NOT EXISTS ${prefix}/${f})
        message(FATAL_ERROR "install_package: ${f} not installed")
    endif()
endforeach()
file(GLOB_RECURSE pcfile ${prefix}/gort.pc)
file(GLOB_RECURSE config ${prefix}/gort-config.cmake)
file(GLOB_RECURSE static_lib ${prefix}/libgort.a)
if(NOT pcfile OR NOT config OR NOT static_lib)
    message(FATAL_ERROR "install_package: gort.pc, gort-config.cmake or libgort.a not installed")
endif()
get_filename_component(pcdir ${pcfile} DIRECTORY)
get_filename_component(libdir ${static_lib} DIRECTORY)

if(GORT_SHARED)
    if(NOT EXISTS ${libdir}/libgort.so.0 OR NOT EXISTS ${libdir}/libgort.so)
        message(FATAL_ERROR "install_package: libgort.so.0 / libgort.so not installed in ${libdir}")
    endif()
    # The version script: only go_* names are exported.
    find_program(NM nm)
    if(NM)
        run("list exported symbols" ${NM} -D --defined-only ${libdir}/libgort.so.0)
        string(REGEX MATCHALL "[^\n]+" lines "${out}")
        set(bad "")
        foreach(l IN LISTS lines)
            if(NOT l MATCHES " go_[^ ]*$")
                string(APPEND bad "  ${l}\n")
            endif()
        endforeach()
        if(bad)
            message(FATAL_ERROR "install_package: libgort.so exports names outside go_*:\n${bad}")
        endif()
        message(STATUS "install_package: libgort.so exports only go_* names")
    endif()
endif()

# 1. CMake: find_package(gort)
run("configure tests/install with find_package(gort)"
    ${CMAKE_COMMAND} -S ${src} -B ${GORT_WORK_DIR}/cmake
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_C_COMPILER=${GORT_C_COMPILER}
    -DCMAKE_BUILD_TYPE=Release
    "-DCMAKE_C_FLAGS=${flags_str}" "-DCMAKE_EXE_LINKER_FLAGS=${flags_str}")
run("build tests/install" ${CMAKE_COMMAND} --build ${GORT_WORK_DIR}/cmake)
check_program("hello_cmake (gort::gort)" ${GORT_WORK_DIR}/cmake/hello_cmake)
check_program("hello_cmake_static (gort::gort_static)" ${GORT_WORK_DIR}/cmake/hello_cmake_static)

# 2. pkg-config: cc $(pkg-config --cflags --libs gort)
find_program(PKG_CONFIG pkg-config REQUIRED)
set(pc_args --cflags --libs)
if(NOT GORT_SHARED)
    list(APPEND pc_args --static) # only libgort.a: bring its libuv and -lpthread
endif()
string(REPLACE ";" " " pc_args_str "${pc_args}")
run("pkg-config ${pc_args_str} gort" ${CMAKE_COMMAND} -E env "PKG_CONFIG_PATH=${pcdir}"
    ${PKG_CONFIG} ${pc_args} gort)
string(STRIP "${out}" pc_flags)
message(STATUS "install_package: pkg-config says: ${pc_flags}")
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
run("compile hello.c with pkg-config"
    ${GORT_C_COMPILER} -std=c11 -Wall -Wextra -Werror ${extra_flags}
    ${src}/hello.c -o ${GORT_WORK_DIR}/hello_pkgconfig ${pc_flags})
check_program("hello_pkgconfig" ${GORT_WORK_DIR}/hello_pkgconfig)

message(STATUS "install_package: all checks passed")
