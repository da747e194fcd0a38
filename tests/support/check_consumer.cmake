# Installs tapegrad from BUILD_DIR into a scratch prefix, then builds and runs the consumer
# project against it with find_package. Run as: cmake -DBUILD_DIR=... -DSOURCE_DIR=...
# -DWORK_DIR=... -DGENERATOR=... -P check_consumer.cmake
file(REMOVE_RECURSE "${WORK_DIR}")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix"
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --build-and-test "${SOURCE_DIR}/tests/consumer" "${WORK_DIR}/build"
                        --build-generator "${GENERATOR}"
                        --build-options "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix" -DTAPEGRAD_CONSUMER_MODE=find_package
                        --test-command consumer
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the find_package consumer failed: ${rc}")
endif()
