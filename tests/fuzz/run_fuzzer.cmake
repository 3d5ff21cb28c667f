# Runs one libFuzzer binary for $ENV{FUZZ_SECONDS} seconds (default 30).
# -DFUZZER=<binary> -DSEEDS=<committed seed corpus dir> -DWORK=<scratch dir in the build tree>
# New corpus entries go to WORK/corpus (the first corpus dir), never into the source tree;
# a crashing input is written to WORK/artifacts/.
set(seconds "$ENV{FUZZ_SECONDS}")
if(seconds STREQUAL "")
  set(seconds 30)
endif()
file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/artifacts)
execute_process(COMMAND ${FUZZER} -max_total_time=${seconds} -max_len=4096 -timeout=20
                        -print_final_stats=1 -artifact_prefix=${WORK}/artifacts/
                        ${WORK}/corpus ${SEEDS}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (exit ${rc}); the input is in ${WORK}/artifacts/")
endif()
