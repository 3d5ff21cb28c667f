# Fails if any C++ source under the project's folders is not clang-format clean.
file(GLOB_RECURSE sources
     ${ROOT}/resp/*.h ${ROOT}/resp/*.cc ${ROOT}/raft/*.h ${ROOT}/raft/*.cc
     ${ROOT}/storage/*.h ${ROOT}/storage/*.cc ${ROOT}/server/*.h ${ROOT}/server/*.cc
     ${ROOT}/tools/*.h ${ROOT}/tools/*.cc ${ROOT}/tests/*.h ${ROOT}/tests/*.cc)
execute_process(COMMAND ${CLANG_FORMAT} --dry-run -Werror ${sources}
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "clang-format differences (run tools/format.sh):\n${err}")
endif()
