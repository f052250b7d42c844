# Parser fuzzing (-DISYNTH_FUZZ=ON, clang): a libFuzzer target built from the parser's own
# sources so that they carry coverage instrumentation, a seed corpus and a dictionary of the
# words the parser reacts to, and a short smoke run under CTest (label "fuzz").
# Longer run: tests/fuzz_parse -dict=tests/fuzz_parse.dict -max_total_time=600 tests/fuzz_parse_corpus
if(ISYNTH_FUZZ)
  add_executable(fuzz_parse ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_parse.c
    ${CMAKE_SOURCE_DIR}/src/parse.c ${CMAKE_SOURCE_DIR}/src/util.c ${CMAKE_SOURCE_DIR}/src/common.c)
  target_include_directories(fuzz_parse PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(fuzz_parse PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(fuzz_parse PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_parse PRIVATE PkgConfig::DEPS) # util.c's Unicode categories

  set(_corpus ${CMAKE_CURRENT_BINARY_DIR}/fuzz_parse_corpus)
  set(_dict ${CMAKE_CURRENT_BINARY_DIR}/fuzz_parse.dict)
  # the first two bytes are the parameters (see fuzz_parse.c):
  # "1" one-stage, "0" two-stage, "3" one-stage truncated
  file(WRITE ${_corpus}/ja "1xタスク1\n指示: 次の文を英訳して\n入力: 猫\n出力: cat\n\nタスク2\n指示：数えて\n入力：なし\n出力：\n1\n2\n")
  file(WRITE ${_corpus}/en "1xTask 1\nInstruction: Add.\nInput: <noinput>\nOutput:\n```python\nprint(1)\n```\n---\n12.\n**Instruction:** Say hi.\n**Output:** hi\n")
  file(WRITE ${_corpus}/junk "3xはい、作ります。\n### タスク6: タスク7: タスク8:\n【指示】タスク9\n質問: a\n回答: b\n以上です。")
  file(WRITE ${_corpus}/two_stage "0xタスク9: 要約して\n9. 一つ目\n10. 二つ目\n")
  # libFuzzer dictionaries take ASCII and \xNN escapes: タスク 新しいタスク Task 指示 指示文 質問
  # 命令 入力 入力文 コンテキスト 出力 回答 答え 応答 解答 ... ： 【 】 なし はい、 以上です １２ U+3000
  set(_words "\\xe3\\x82\\xbf\\xe3\\x82\\xb9\\xe3\\x82\\xaf"
    "\\xe6\\x96\\xb0\\xe3\\x81\\x97\\xe3\\x81\\x84\\xe3\\x82\\xbf\\xe3\\x82\\xb9\\xe3\\x82\\xaf"
    "Task " "task #" "\\xe6\\x8c\\x87\\xe7\\xa4\\xba"
    "\\xe6\\x8c\\x87\\xe7\\xa4\\xba\\xe6\\x96\\x87" "\\xe8\\xb3\\xaa\\xe5\\x95\\x8f"
    "\\xe5\\x91\\xbd\\xe4\\xbb\\xa4" "\\xe5\\x85\\xa5\\xe5\\x8a\\x9b"
    "\\xe5\\x85\\xa5\\xe5\\x8a\\x9b\\xe6\\x96\\x87"
    "\\xe3\\x82\\xb3\\xe3\\x83\\xb3\\xe3\\x83\\x86\\xe3\\x82\\xad\\xe3\\x82\\xb9\\xe3\\x83\\x88"
    "\\xe5\\x87\\xba\\xe5\\x8a\\x9b" "\\xe5\\x9b\\x9e\\xe7\\xad\\x94"
    "\\xe7\\xad\\x94\\xe3\\x81\\x88" "\\xe5\\xbf\\x9c\\xe7\\xad\\x94"
    "\\xe8\\xa7\\xa3\\xe7\\xad\\x94" "Instruction" "Prompt" "Question" "Input" "Context" "Output"
    "Answer" "Response" ": " "\\xef\\xbc\\x9a" "\\xe3\\x80\\x90" "\\xe3\\x80\\x91" "**" "### "
    "```" "~~~" "---" "\\xe3\\x81\\xaa\\xe3\\x81\\x97" "<noinput>"
    "\\xe3\\x81\\xaf\\xe3\\x81\\x84\\xe3\\x80\\x81"
    "\\xe4\\xbb\\xa5\\xe4\\xb8\\x8a\\xe3\\x81\\xa7\\xe3\\x81\\x99"
    "\\xef\\xbc\\x91\\xef\\xbc\\x92" "12." "\\x0a\\x0a" "\\x0d\\x0a" "\\xe3\\x80\\x80")
  set(_d "")
  foreach(w ${_words})
    string(APPEND _d "\"${w}\"\n")
  endforeach()
  file(WRITE ${_dict} "${_d}")

  add_test(NAME fuzz_parse_smoke
    COMMAND fuzz_parse -dict=${_dict} -max_total_time=30 -seed=1 -rss_limit_mb=4096 ${_corpus})
  set_tests_properties(fuzz_parse_smoke PROPERTIES LABELS fuzz TIMEOUT 180)
endif()
