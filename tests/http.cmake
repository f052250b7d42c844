# HTTP backend tests (issue 5). test_openai (built by the unit-test glob) runs against
# tests/http_stub.py, a fault-injecting stub; `test_openai llama-server` runs against the real
# llama-server built from the same llama.cpp source with the default model.
if(TARGET test_openai)
  target_compile_definitions(test_openai PRIVATE
    ISYNTH_PYTHON="${ISYNTH_PYTHON}"
    ISYNTH_HTTP_STUB="${CMAKE_CURRENT_SOURCE_DIR}/http_stub.py"
    ISYNTH_LLAMA_SERVER="${ISYNTH_LLAMA_SERVER}"
    ISYNTH_MODEL="${ISYNTH_MODEL}")
  set_tests_properties(test_openai PROPERTIES LABELS "unit;http" TIMEOUT 300)
  if(ISYNTH_LLAMA_SERVER AND ISYNTH_MODEL)
    add_test(NAME openai_llama_server COMMAND test_openai llama-server
             WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
    set_tests_properties(openai_llama_server PROPERTIES LABELS "integration;http" TIMEOUT 600)
  endif()
endif()

# `isynth generate` end to end over HTTP (tests/http_generate.py): faults and a SIGKILL-then-
# rerun through the stub, a full run through the real llama-server.
if(TARGET isynth-cli)
  set(_http_gen ${ISYNTH_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/http_generate.py
      --isynth $<TARGET_FILE:isynth-cli> --seeds ${CMAKE_SOURCE_DIR}/data/seeds_ja.jsonl
      --stub ${CMAKE_CURRENT_SOURCE_DIR}/http_stub.py)
  add_test(NAME http_generate_faults COMMAND ${_http_gen} faults)
  add_test(NAME http_generate_kill_rerun COMMAND ${_http_gen} kill)
  add_test(NAME http_generate_sigint COMMAND ${_http_gen} sigint)
  set_tests_properties(http_generate_faults http_generate_kill_rerun http_generate_sigint
    PROPERTIES
    LABELS "integration;http" TIMEOUT 300)
  if(ISYNTH_LLAMA_SERVER AND ISYNTH_MODEL)
    add_test(NAME http_generate_llama_server COMMAND ${_http_gen} llama
             --llama-server ${ISYNTH_LLAMA_SERVER} --model ${ISYNTH_MODEL})
    # the ASan pass skips it: the client side under ASan is covered by the stub runs and by
    # openai_llama_server, and a second real generation would only double the CI time
    set_tests_properties(http_generate_llama_server PROPERTIES
      LABELS "integration;http;no-asan" TIMEOUT 900)
  endif()
endif()
