# Builds and runs tests/consumer, a project that uses tapegrad, one way per MODE (the consumer.*
# ctest entries):
#   find_package            install BUILD_DIR's tapegrad, move the installed tree, find_package it
#   find_package_core_only  the same for a tapegrad configured without nlohmann_json and zlib: no
#                           tapegrad::io or tapegrad::data, and the package is found where neither is
#   add_subdirectory        add_subdirectory on the source tree; must install nothing of tapegrad's
#   fetchcontent            FetchContent on the source tree, the parent asking TAPEGRAD_INSTALL ON:
#                           installs the package
#   pkg_config              install and move, then c++ $(pkg-config --cflags tapegrad) main.cpp
# With EIGEN_STUB=<dir> the subproject modes make tapegrad fetch Eigen (from that stub, which has
# Eigen's BUILD_TESTING trap): the parent's own tests must still run, the stub's must not appear.
# Every CMake mode runs the consumer's ctest and fails unless the consumer's own tests ran.
#   cmake -DMODE=... -DSOURCE_DIR=... -DWORK_DIR=... -DGENERATOR=... -DCXX_COMPILER=...
#         -DEXPECTED_VERSION=... -DEXPECT_IO=ON|OFF -DEXPECT_DATA=ON|OFF -DEXPECT_DISTRIBUTED=ON|OFF [-DBUILD_DIR=...] [-DEIGEN_STUB=... -DEIGEN_INCLUDE_DIR=...]
#         -P check_consumer.cmake
cmake_minimum_required(VERSION 3.14)

foreach(var MODE SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER EXPECTED_VERSION EXPECT_IO EXPECT_DATA EXPECT_DISTRIBUTED)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_consumer: pass -D${var}=...")
  endif()
endforeach()
set(consumer_dir "${SOURCE_DIR}/tests/consumer")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run)  # run(<what> COMMAND ...): the command must succeed; its output is shown if it fails
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "COMMAND")
  execute_process(COMMAND ${arg_COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "check_consumer: ${ARGV0} failed (${rc}):\n${out}\n${err}")
  endif()
  set(run_output "${out}${err}" PARENT_SCOPE)
endfunction()

# Installs a tapegrad build tree into a staging prefix and moves it to <WORK_DIR>/prefix: the
# package must not remember where it was installed. The install script is run with -P (what
# `cmake --install --prefix` does, but CMake 3.14 has no --install).
function(install_and_move build_dir)
  set(staging "${WORK_DIR}/staging")
  run("installing tapegrad" COMMAND ${CMAKE_COMMAND} -DCMAKE_INSTALL_PREFIX=${staging}
                                    -P ${build_dir}/cmake_install.cmake)
  file(RENAME "${staging}" "${WORK_DIR}/prefix")
  file(GLOB_RECURSE package_files "${WORK_DIR}/prefix/*.cmake" "${WORK_DIR}/prefix/*.pc")
  if(NOT package_files)
    message(FATAL_ERROR "check_consumer: the install put no CMake package or .pc file under ${WORK_DIR}/prefix")
  endif()
  foreach(file ${package_files})
    file(READ "${file}" text)
    foreach(path "${staging}" "${build_dir}")
      string(FIND "${text}" "${path}" at)
      if(NOT at EQUAL -1)
        message(FATAL_ERROR "check_consumer: ${file} names ${path}: the installed package cannot be moved")
      endif()
    endforeach()
  endforeach()
endfunction()

# Configures, builds and tests the consumer with the given -D options; the consumer's own ctest
# entries must have run and passed.
function(build_consumer)
  set(build "${WORK_DIR}/build")
  run("configuring the consumer" COMMAND ${CMAKE_COMMAND} -S ${consumer_dir} -B ${build} -G ${GENERATOR}
                                         -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
                                         -DTAPEGRAD_EXPECTED_VERSION=${EXPECTED_VERSION}
                                         -DTAPEGRAD_EXPECT_IO=${EXPECT_IO} -DTAPEGRAD_EXPECT_DATA=${EXPECT_DATA}
                                         -DTAPEGRAD_EXPECT_DISTRIBUTED=${EXPECT_DISTRIBUTED} ${ARGN})
  run("building the consumer" COMMAND ${CMAKE_COMMAND} --build ${build})
  execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --output-on-failure WORKING_DIRECTORY ${build}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "check_consumer: the consumer's ctest:\n${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "check_consumer: the consumer's tests failed (${rc})")
  endif()
  set(own consumer.own_test)
  if(EXPECT_IO)
    list(APPEND own consumer.own_io_test)
  endif()
  if(EXPECT_DATA)
    list(APPEND own consumer.own_data_test)
  endif()
  if(EXPECT_DISTRIBUTED)
    list(APPEND own consumer.own_distributed_test)
  endif()
  foreach(test ${own})
    if(NOT out MATCHES "${test} [.]* +Passed")
      message(FATAL_ERROR "check_consumer: the consumer's own test ${test} did not run: "
                          "its BUILD_TESTING was switched off")
    endif()
  endforeach()
  if(out MATCHES "eigen_stub")
    message(FATAL_ERROR "check_consumer: the fetched Eigen's tests were registered in the consumer's ctest")
  endif()
endfunction()

if(MODE STREQUAL "find_package")
  install_and_move("${BUILD_DIR}")
  build_consumer(-DTAPEGRAD_CONSUMER_MODE=find_package -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)

elseif(MODE STREQUAL "find_package_core_only")
  set(EXPECT_IO OFF)
  set(EXPECT_DATA OFF)
  set(EXPECT_DISTRIBUTED OFF)
  # A tapegrad that did not find nlohmann_json, zlib or MPI, installed, then used where there is none.
  run("configuring tapegrad without nlohmann_json, zlib and MPI"
      COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/tapegrad-build -G ${GENERATOR}
              -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON
              -DCMAKE_DISABLE_FIND_PACKAGE_ZLIB=ON -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON
              -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF)
  install_and_move("${WORK_DIR}/tapegrad-build")
  file(READ "${WORK_DIR}/prefix/share/cmake/tapegrad/tapegradTargets.cmake" targets)
  if(targets MATCHES "nlohmann|ZLIB|MPI::")  # "MPI::", not "MPI": COMPILE has it
    message(FATAL_ERROR "check_consumer: tapegrad built without nlohmann_json, zlib and MPI still exports something that needs them")
  endif()
  build_consumer(-DTAPEGRAD_CONSUMER_MODE=find_package -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
                 -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON -DCMAKE_DISABLE_FIND_PACKAGE_ZLIB=ON
                 -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON)

elseif(MODE STREQUAL "add_subdirectory" OR MODE STREQUAL "fetchcontent")
  set(options -DTAPEGRAD_CONSUMER_MODE=${MODE} -DTAPEGRAD_SOURCE_DIR=${SOURCE_DIR})
  if(MODE STREQUAL "fetchcontent" AND NOT DEFINED EIGEN_STUB)  # the stub Eigen has no export set
    list(APPEND options -DTAPEGRAD_CONSUMER_INSTALLS_TAPEGRAD=ON)
  endif()
  if(DEFINED EIGEN_STUB)
    # tapegrad does not find Eigen, so it fetches it, here from the stub: no network.
    # The consumer makes BUILD_TESTING only after adding tapegrad: a cache FORCE in tapegrad would
    # decide it, and Eigen's option() would register Eigen's tests if it ignored a normal variable.
    list(APPEND options -DCMAKE_DISABLE_FIND_PACKAGE_Eigen3=ON -DFETCHCONTENT_SOURCE_DIR_EIGEN=${EIGEN_STUB}
                        -DTAPEGRAD_TEST_EIGEN_INCLUDE_DIR=${EIGEN_INCLUDE_DIR} -DTAPEGRAD_CONSUMER_CTEST_LAST=ON)
  endif()
  build_consumer(${options})
  if(NOT DEFINED EIGEN_STUB)
    run("installing the consumer" COMMAND ${CMAKE_COMMAND} -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix
                                          -P ${WORK_DIR}/build/cmake_install.cmake)
    file(GLOB_RECURSE installed RELATIVE "${WORK_DIR}/prefix" "${WORK_DIR}/prefix/*")
    if(MODE STREQUAL "add_subdirectory" AND installed)
      message(FATAL_ERROR "check_consumer: tapegrad as a subproject installed files nobody asked for:\n${installed}")
    endif()
    if(MODE STREQUAL "fetchcontent" AND NOT EXISTS "${WORK_DIR}/prefix/share/cmake/tapegrad/tapegradConfig.cmake")
      message(FATAL_ERROR "check_consumer: TAPEGRAD_INSTALL=ON from the parent installed no package:\n${installed}")
    endif()
  endif()

elseif(MODE STREQUAL "pkg_config")
  find_program(PKG_CONFIG pkg-config)
  if(NOT PKG_CONFIG)
    message(STATUS "SKIPPED: pkg-config is not installed (Debian/Ubuntu: apt-get install pkg-config)")
    return()
  endif()
  execute_process(COMMAND ${PKG_CONFIG} --exists eigen3 RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(STATUS "SKIPPED: pkg-config does not know eigen3 (its eigen3.pc comes with libeigen3-dev)")
    return()
  endif()
  install_and_move("${BUILD_DIR}")
  set(ENV{PKG_CONFIG_PATH} "${WORK_DIR}/prefix/share/pkgconfig")
  run("pkg-config --modversion tapegrad" COMMAND ${PKG_CONFIG} --modversion tapegrad)
  string(STRIP "${run_output}" version)
  if(NOT version STREQUAL EXPECTED_VERSION)
    message(FATAL_ERROR "check_consumer: pkg-config says tapegrad ${version}, CMake ${EXPECTED_VERSION}")
  endif()
  run("pkg-config --cflags tapegrad" COMMAND ${PKG_CONFIG} --cflags tapegrad)
  string(STRIP "${run_output}" cflags)
  message(STATUS "check_consumer: pkg-config --cflags tapegrad: ${cflags}")
  separate_arguments(cflags UNIX_COMMAND "${cflags}")
  # What the README tells a user without CMake to type, with pkg-config's version as the expected one.
  set(version_define "-DTAPEGRAD_EXPECTED_VERSION=\"${version}\"")
  run("compiling with pkg-config's flags"
      COMMAND ${CXX_COMPILER} -std=c++17 ${cflags} ${version_define}
              ${consumer_dir}/main.cpp -o ${WORK_DIR}/consumer)
  run("running the pkg-config consumer" COMMAND ${WORK_DIR}/consumer)
  message(STATUS "check_consumer: ${run_output}")

else()
  message(FATAL_ERROR "check_consumer: unknown MODE '${MODE}'")
endif()
