# End-to-end tests of `isynth generate` with the real default model, and of the CLI on the
# corpus of broken seed files.
add_test(NAME cli_bad_seeds
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_bad_seeds.sh $<TARGET_FILE:isynth-cli>
          ${CMAKE_CURRENT_SOURCE_DIR}/data/seeds/bad)
set_tests_properties(cli_bad_seeds PROPERTIES LABELS cli TIMEOUT 120)

add_test(NAME cli_usage COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_usage.sh $<TARGET_FILE:isynth-cli>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(cli_usage PROPERTIES LABELS cli TIMEOUT 60)

if(ISYNTH_MODEL)
  add_test(NAME gen_e2e
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gen_e2e.sh $<TARGET_FILE:isynth-cli> ${ISYNTH_MODEL}
            ${ISYNTH_PYTHON} ${CMAKE_SOURCE_DIR})
  set_tests_properties(gen_e2e PROPERTIES LABELS "integration;model" TIMEOUT 1200 RUN_SERIAL TRUE)
  add_test(NAME gen_kill_resume
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gen_kill_resume.sh $<TARGET_FILE:isynth-cli>
            ${ISYNTH_MODEL} ${ISYNTH_PYTHON} ${CMAKE_SOURCE_DIR})
  set_tests_properties(gen_kill_resume PROPERTIES LABELS "integration;model" TIMEOUT 1500
                       RUN_SERIAL TRUE)
  add_test(NAME gen_magpie
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gen_magpie.sh $<TARGET_FILE:isynth-cli> ${ISYNTH_MODEL}
            ${ISYNTH_PYTHON} ${CMAKE_SOURCE_DIR})
  set_tests_properties(gen_magpie PROPERTIES LABELS "integration;model" TIMEOUT 900 RUN_SERIAL TRUE)
  add_test(NAME gen_evol
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gen_evol.sh $<TARGET_FILE:isynth-cli> ${ISYNTH_MODEL}
            ${ISYNTH_PYTHON} ${CMAKE_SOURCE_DIR})
  set_tests_properties(gen_evol PROPERTIES LABELS "integration;model" TIMEOUT 900 RUN_SERIAL TRUE)
  add_test(NAME gen_model_identity
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gen_model_identity.sh $<TARGET_FILE:isynth-cli>
            ${ISYNTH_MODEL})
  set_tests_properties(gen_model_identity PROPERTIES LABELS "integration;model" TIMEOUT 600
                       RUN_SERIAL TRUE)
endif()

if(ISYNTH_MODEL)
  add_test(NAME judge_cli
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/judge_cli.sh $<TARGET_FILE:isynth-cli> ${ISYNTH_MODEL}
            ${ISYNTH_PYTHON} ${CMAKE_SOURCE_DIR})
  set_tests_properties(judge_cli PROPERTIES LABELS "integration;model" TIMEOUT 1200 RUN_SERIAL TRUE)
endif()

# The library's global symbols are all its own (no dependency's symbol redefined).
add_test(NAME lib_symbols COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/symbols.sh $<TARGET_FILE:isynth>)
set_tests_properties(lib_symbols PROPERTIES LABELS cli TIMEOUT 60)
