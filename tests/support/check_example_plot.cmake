# An example that writes its training curves as SVG, as a user piping its output sees it:
#   cmake -DPROGRAM=<example> -DSVG=<plot path> [-DXMLLINT=<xmllint>] -P check_example_plot.cmake -- [args]
# runs `<example> [args] <plot path>`, then checks
# - the output, a pipe here, is plain lines: no '\r' and no escape character (the progress
#   line redraws in place only on a terminal), and says where the plot was written;
# - the file is a whole SVG document: an XML declaration, an <svg> root of the SVG namespace,
#   at least one <polyline>, and it ends with </svg>; well-formed XML by xmllint when given.
cmake_minimum_required(VERSION 3.14)

foreach(var PROGRAM SVG)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_example_plot: pass -D${var}=...")
  endif()
endforeach()

# the program's arguments: what follows "--" on cmake's command line
set(args)
set(after_separator FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  if(after_separator)
    list(APPEND args "${CMAKE_ARGV${i}}")
  elseif(CMAKE_ARGV${i} STREQUAL "--")
    set(after_separator TRUE)
  endif()
endforeach()

file(REMOVE "${SVG}")  # a plot left by an earlier run must not pass for this one's
execute_process(COMMAND "${PROGRAM}" ${args} "${SVG}"
                RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE errors)
if(NOT result STREQUAL "0")
  message(FATAL_ERROR "check_example_plot: ${PROGRAM} failed (${result}):\n${output}${errors}")
endif()

string(ASCII 27 escape)
string(FIND "${output}" "\r" carriage_return_at)
string(FIND "${output}" "${escape}" escape_at)
if(NOT carriage_return_at EQUAL -1 OR NOT escape_at EQUAL -1)
  message(FATAL_ERROR "check_example_plot: piped output holds '\\r' or an escape character:\n${output}")
endif()
string(FIND "${output}" "Curves written to ${SVG}\n" written_at)
if(written_at EQUAL -1)
  message(FATAL_ERROR "check_example_plot: the output does not say 'Curves written to ${SVG}':\n${output}")
endif()

if(NOT EXISTS "${SVG}")
  message(FATAL_ERROR "check_example_plot: ${SVG} was not written")
endif()
file(READ "${SVG}" document)
string(LENGTH "${document}" size)
if(NOT document MATCHES "^<\\?xml version=\"1.0\" encoding=\"UTF-8\"[^>]*\\?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\"")
  message(FATAL_ERROR "check_example_plot: ${SVG} does not start with an XML declaration and an SVG 1.1 root")
endif()
if(NOT document MATCHES "<polyline [^>]*points=\"[0-9.]+,[0-9.]+ [0-9.]+,[0-9.]+")
  message(FATAL_ERROR "check_example_plot: ${SVG} has no curve (<polyline points=...>)")
endif()
if(NOT document MATCHES "</svg>\n$")
  message(FATAL_ERROR "check_example_plot: ${SVG} does not end with </svg>")
endif()
if(XMLLINT)
  execute_process(COMMAND "${XMLLINT}" --noout "${SVG}" RESULT_VARIABLE lint_result ERROR_VARIABLE lint_errors)
  if(NOT lint_result STREQUAL "0")
    message(FATAL_ERROR "check_example_plot: xmllint rejects ${SVG}:\n${lint_errors}")
  endif()
  set(linted ", well-formed by xmllint")
endif()
message(STATUS "check_example_plot: plain output, ${SVG} written (${size} bytes${linted})")
