# LLM judge tests. test_judge (built by the unit-test glob) runs its unit group against a
# scripted backend; the three integration groups each judge a few rows with a real peer:
#   judge_llama         the embedded backend, the default model, the GBNF grammar
#   judge_llama_server  the real llama-server (same llama.cpp source), response_format
#   judge_stub          tests/http_stub.py rejecting response_format: fallback and extraction
if(TARGET test_judge)
  target_compile_definitions(test_judge PRIVATE
    ISYNTH_PYTHON="${ISYNTH_PYTHON}"
    ISYNTH_HTTP_STUB="${CMAKE_CURRENT_SOURCE_DIR}/http_stub.py"
    ISYNTH_LLAMA_SERVER="${ISYNTH_LLAMA_SERVER}"
    ISYNTH_MODEL="${ISYNTH_MODEL}")
  add_test(NAME judge_stub COMMAND test_judge stub)
  set_tests_properties(judge_stub PROPERTIES LABELS "integration;http" TIMEOUT 120)
  if(ISYNTH_MODEL)
    add_test(NAME judge_llama COMMAND test_judge llama)
    set_tests_properties(judge_llama PROPERTIES LABELS "integration;model" TIMEOUT 900
                         RUN_SERIAL TRUE)
  endif()
  if(ISYNTH_LLAMA_SERVER AND ISYNTH_MODEL)
    add_test(NAME judge_llama_server COMMAND test_judge llama-server
             WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
    set_tests_properties(judge_llama_server PROPERTIES LABELS "integration;http;model"
                         TIMEOUT 900 RUN_SERIAL TRUE)
  endif()
endif()
