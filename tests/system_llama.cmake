# The system-libllama path (tests/system_llama.sh): isynth configured and built against a copy of
# the llama.cpp prefix installed as a distribution would, found by pkg-config through
# CMAKE_PREFIX_PATH. Registered when isynth itself uses the set-up's prefix; when it is built
# against a system libllama already (ISYNTH_LLAMA_PREFIX empty), every test takes that path.
# It never skips: a prefix without llama.pc fails it. Its own build runs at -j2 (PROCESSORS 2),
# and once: the ASan pass leaves it out (no-asan).
if(ISYNTH_LLAMA_PREFIX)
  add_test(NAME system_llama
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/system_llama.sh ${CMAKE_SOURCE_DIR}
            ${ISYNTH_LLAMA_PREFIX} "${ISYNTH_MODEL}" $<BOOL:${ISYNTH_REQUIRE_ALL}>
            ${CMAKE_CURRENT_BINARY_DIR}/system-llama)
  set_tests_properties(system_llama PROPERTIES LABELS "integration;no-asan" TIMEOUT 1200
                       PROCESSORS 2)
endif()
