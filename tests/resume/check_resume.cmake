# Resuming in a new process equals not stopping, to the last bit:
#   cmake -DPROGRAM=<resume_training> -DWORK_DIR=<dir> -P check_resume.cmake
# runs 20 uninterrupted steps, then 10 steps + checkpoint and a second process that resumes to
# 20, and compares the two saved models byte for byte (and that resuming did change them).
cmake_minimum_required(VERSION 3.14)
foreach(var PROGRAM WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_resume: pass -D${var}=...")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run)
  execute_process(COMMAND "${PROGRAM}" ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE errors)
  if(NOT result STREQUAL "0")
    message(FATAL_ERROR "check_resume: ${PROGRAM} ${ARGN} failed (${result}):\n${output}${errors}")
  endif()
endfunction()

run(full 20 "${WORK_DIR}/uninterrupted.safetensors")
run(first 10 "${WORK_DIR}/step10")
run(resume "${WORK_DIR}/step10" 10 20 "${WORK_DIR}/resumed.safetensors")
run(full 10 "${WORK_DIR}/ten.safetensors")

execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files "${WORK_DIR}/uninterrupted.safetensors"
                        "${WORK_DIR}/resumed.safetensors" RESULT_VARIABLE differ)
if(NOT differ EQUAL 0)
  message(FATAL_ERROR "check_resume: the resumed model differs from the uninterrupted one")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files "${WORK_DIR}/ten.safetensors"
                        "${WORK_DIR}/step10.model" RESULT_VARIABLE differ_ten)
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files "${WORK_DIR}/ten.safetensors"
                        "${WORK_DIR}/resumed.safetensors" RESULT_VARIABLE differ_twenty)
if(NOT differ_ten EQUAL 0 OR differ_twenty EQUAL 0)
  message(FATAL_ERROR "check_resume: step 10's checkpoint is not the 10-step model, or steps 10-20 changed nothing")
endif()
message(STATUS "check_resume: 10 + 10 steps in two processes equal 20 steps, byte for byte")
