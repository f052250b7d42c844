# The reply grammar against llama.cpp's grammar engine (the default model's vocabulary) and the
# parser; test_grammar is built by the unit-test glob and skips without a model.
if(TARGET test_grammar)
  target_include_directories(test_grammar PRIVATE ${LLAMA_INCLUDE})
  target_compile_definitions(test_grammar PRIVATE ISYNTH_MODEL="${ISYNTH_MODEL}")
  set_tests_properties(test_grammar PROPERTIES LABELS "unit;model")
endif()
