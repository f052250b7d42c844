/* Magpie (generate --method magpie): the prompt built from chat templates of several families,
 * and the run's handling of the user turns a model writes, driven by a scripted backend. The
 * script is a test double on purpose: it writes, on cue, the turns a small model writes (one
 * that starts in Chinese, one that goes on to answer itself, one framed by labels), which a real
 * model does only now and then. The real model runs Magpie in tests/generate.cmake (gen_magpie)
 * and in bench/magpie. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isynth/backend.h"
#include "isynth/pipeline.h"
#include "isynth/prompt.h"

#define TMPDIR_NAME "magpie"
#include "tmpdir.h"
#include "rundb.h"

/* ---- the prompt from chat templates ---- */

static void expect_prefix(const char *tmpl, const char *system, const char *want)
{
    isynth_msg m = {"system", system};
    char *out = NULL;
    isynth_error e;
    assert_int_equal(isynth_chat_user_prefix(tmpl, &m, system ? 1 : 0, &out, &e), ISYNTH_OK);
    assert_string_equal(out, want);
    isynth_free(out);
}

static void test_prefix_chatml(void **state)
{
    (void)state;
    expect_prefix("chatml", "あなたは日本語で答えます。",
                  "<|im_start|>system\nあなたは日本語で答えます。<|im_end|>\n<|im_start|>user\n");
    expect_prefix("chatml", NULL, "<|im_start|>user\n");
    /* a GGUF carries the Jinja text: llama.cpp recognises the family by its markers (this is
     * the head of Qwen2.5's template, the default model's) */
    expect_prefix("{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + "
                  "messages[0]['content'] + '<|im_end|>\\n' }}{%- endif %}"
                  "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + "
                  "'\\n' }}",
                  "S", "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n");
}

static void test_prefix_other_families(void **state)
{
    (void)state;
    /* Llama 3 */
    expect_prefix("llama3", "S",
                  "<|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\n");
    /* Gemma has no system turn: llama.cpp puts the system text at the head of the user's
     * turn, so the model goes on from after it, inside the user's turn */
    expect_prefix("gemma", NULL, "<start_of_turn>user\n");
    /* Mistral v7 */
    expect_prefix("mistral-v7", "S", "[SYSTEM_PROMPT] S[/SYSTEM_PROMPT][INST] ");
}

static void test_prefix_refused(void **state)
{
    (void)state;
    char *out = (char *)1;
    isynth_error e;
    isynth_msg m = {"system", "S"};
    assert_int_equal(isynth_chat_user_prefix("no template here", &m, 1, &out, &e),
                     ISYNTH_ERR_MODEL);
    assert_null(out);
    assert_int_equal(isynth_chat_user_prefix(NULL, &m, 1, &out, &e), ISYNTH_ERR_MODEL);
    assert_non_null(strstr(e.msg, "chat template"));
}

static void test_system_message(void **state)
{
    (void)state;
    isynth_prompt_params pp = isynth_prompt_params_default();
    char *s = NULL;
    isynth_error e;
    pp.topic = "料理";
    assert_int_equal(isynth_prompt_magpie_system(&pp, NULL, &s, &e), ISYNTH_OK);
    assert_non_null(strstr(s, "日本語"));
    assert_null(strstr(s, "料理")); /* the built-in one names no subject */
    isynth_free(s);
    pp.lang = ISYNTH_LANG_EN;
    assert_int_equal(isynth_prompt_magpie_system(&pp, NULL, &s, &e), ISYNTH_OK);
    assert_non_null(strstr(s, "English"));
    isynth_free(s);
    assert_int_equal(isynth_prompt_magpie_system(&pp, "", &s, &e), ISYNTH_OK);
    assert_string_equal(s, "");
    isynth_free(s);
    pp.topic = "旅行";
    assert_int_equal(isynth_prompt_magpie_system(&pp, "話題: {{topic}}", &s, &e), ISYNTH_OK);
    assert_string_equal(s, "話題: 旅行");
    isynth_free(s);
}

/* ---- the run, on a scripted model ---- */

/* What the scripted model writes as user turn k (1-based), attempt by attempt: an attempt is
 * written 3 bytes at a time to the watcher, and a cut (the language check) goes on with the
 * next attempt, as a model samples a new turn. */
static const char *const *turn_attempts(int k)
{
    static const char *const t1[] = {"请用Python写一个函数来计算斐波那契数列的第n项",
                                     "日本の四季について、それぞれの特徴を説明してください。\n\n"
                                     "日本の四季は春、夏、秋、冬です。",
                                     NULL};
    static const char *const t2[] = {"次の文章を要約してください。\n\n"
                                     "昨日、市内の図書館で読書会が開かれ、三十人ほどが集まりま"
                                     "した。\n\n要約: 読書会が開かれた。",
                                     NULL};
    static const char *const t3[] = {
        "おすすめの朝食の献立を三つ考えてください。\n回答: ご飯と味噌汁"
        "です。",
        NULL};
    static const char *const t4[] = {"質問：睡眠の質を高める習慣を三つ挙げてください。", NULL};
    static const char *const t5[] = {"アシスタント: はい、何でもお手伝いします。", NULL};
    static const char *const t6[] = {"# 長方形の面積を求める方法を説明してください", NULL};
    static const char *const t7[] = {"具体的な質問や依頼は何ですか?", NULL};
    static const char *const *all[] = {t1, t2, t3, t4, t5, t6, t7};
    return all[(k - 1) % 7];
}

typedef struct mscript {
    int served, answers;
    int cap;
    size_t n;
    uint64_t ids[4];
    bool raw[4];
    char *prompt[4];
    isynth_watch_fn watch[4];
    void *watch_user[4];
    bool no_rewind;
    const char *tmpl;
    char first_prompt[1024];
} mscript;

static size_t m_capacity(void *p)
{
    mscript *s = p;
    return (size_t)s->cap - s->n;
}

static size_t m_in_flight(void *p)
{
    return ((mscript *)p)->n;
}

static isynth_err m_submit(void *p, const isynth_gen_req *req, isynth_error *err)
{
    (void)err;
    mscript *s = p;
    s->ids[s->n] = req->id;
    s->raw[s->n] = req->raw;
    s->prompt[s->n] = strdup(req->raw || !req->chat ? req->prompt : req->msgs[1].content);
    s->watch[s->n] = req->watch;
    s->watch_user[s->n] = req->watch_user;
    if (req->raw && !s->first_prompt[0])
        snprintf(s->first_prompt, sizeof s->first_prompt, "%s", req->prompt);
    s->n++;
    return ISYNTH_OK;
}

static isynth_err write_turn(mscript *s, size_t i, int k, isynth_gen_cb cb, void *user,
                             isynth_error *err)
{
    isynth_err rc;
    static char text[4096];
    const char *const *att = turn_attempts(k);
    size_t len = 0;
    long pieces = 0;
    for (int a = 0; att[a]; a++) {
        const char *src = att[a];
        size_t n = strlen(src);
        bool cut = false, ended = false;
        len = 0;
        isynth_watch_act act = ISYNTH_WATCH_GO;
        if (a > 0 && (rc = s->watch[i](s->watch_user[i], s->ids[i], text, 0, &act, &len, err)))
            return rc; /* starts again */
        for (size_t j = 0; j < n && !cut && !ended;) {
            size_t step = 3;
            while (j + step < n && ((unsigned char)src[j + step] & 0xC0) == 0x80)
                step++;
            if (j + step > n) step = n - j;
            memcpy(text + len, src + j, step);
            len += step;
            j += step;
            pieces++;
            text[len] = '\0';
            if (!s->watch[i]) continue;
            size_t at = len;
            act = ISYNTH_WATCH_GO;
            if ((rc = s->watch[i](s->watch_user[i], s->ids[i], text, len, &act, &at, err)))
                return rc;
            if (act == ISYNTH_WATCH_GO) continue;
            len = at;
            text[len] = '\0';
            if (act == ISYNTH_WATCH_END || s->no_rewind)
                ended = true;
            else
                cut = true;
        }
        if (!cut) break;
    }
    isynth_gen_result r = {.id = s->ids[i],
                           .text = text,
                           .len = len,
                           .prompt_tokens = 30,
                           .completion_tokens = pieces};
    return cb(user, &r, err);
}

static isynth_err m_step(void *p, isynth_gen_cb cb, void *user, isynth_error *err)
{
    mscript *s = p;
    while (s->n) {
        size_t i = --s->n;
        isynth_err rc;
        if (s->raw[i]) {
            rc = write_turn(s, i, ++s->served, cb, user, err);
        } else {
            char text[256];
            snprintf(text, sizeof text, "答えその%dです。順に説明します。", ++s->answers);
            isynth_gen_result r = {.id = s->ids[i],
                                   .text = text,
                                   .len = strlen(text),
                                   .prompt_tokens = 30,
                                   .completion_tokens = 12};
            rc = cb(user, &r, err);
        }
        free(s->prompt[i]);
        if (rc) { /* the requests left are dropped, as a backend does */
            while (s->n)
                free(s->prompt[--s->n]);
            return rc;
        }
    }
    return ISYNTH_OK;
}

static void m_info(void *p, isynth_backend_info *out)
{
    mscript *s = p;
    out->kind = "script";
    out->model = "script.gguf";
    out->model_name = "scripted";
    out->license = "";
    out->has_chat_template = true;
    out->chat_template = s->tmpl;
    out->rewinds = !s->no_rewind;
    out->parallel = 1;
}

static void m_stats(void *p, isynth_backend_stats *out)
{
    (void)p;
    (void)out;
}

static void m_free(void *p)
{
    mscript *s = p;
    for (size_t i = 0; i < s->n; i++)
        free(s->prompt[i]);
    free(p);
}

static const isynth_backend_ops mops = {m_capacity, m_in_flight, m_submit, m_step,
                                        m_info,     m_stats,     m_free};

static isynth_backend *magpie_model(const char *tmpl, bool no_rewind, mscript **out)
{
    mscript *s = calloc(1, sizeof *s);
    s->cap = 1;
    s->tmpl = tmpl;
    s->no_rewind = no_rewind;
    isynth_backend *b;
    assert_int_equal(isynth_backend_wrap(&mops, s, &b), ISYNTH_OK);
    *out = s;
    return b;
}

static isynth_gen_params magpie_params(void)
{
    isynth_gen_params p = isynth_gen_params_default();
    p.seeds_path = ISYNTH_SOURCE_DIR "/data/seeds_ja.jsonl";
    p.out_dir = dir;
    p.method = ISYNTH_METHOD_MAGPIE;
    p.target = 100;
    p.max_requests = 12; /* seven user turns and five answers */
    p.topics = false;
    return p;
}

static void test_run(void **state)
{
    (void)state;
    mscript *s;
    isynth_backend *b = magpie_model("chatml", false, &s);
    isynth_gen_params p = magpie_params();
    isynth_progress last;
    isynth_error e;
    assert_int_equal(isynth_generate(&p, b, &last, &e), ISYNTH_OK);
    /* the prompt is the chat template up to the user turn's opening, with the built-in system
     * message in the seeds' language */
    assert_true(!strncmp(s->first_prompt, "<|im_start|>system\nあなたは日本語で", 25));
    size_t pl = strlen(s->first_prompt);
    assert_true(pl > 17 && !strcmp(s->first_prompt + pl - 17, "<|im_start|>user\n"));
    isynth_backend_free(b);
    assert_int_equal(q("select count(*) from meta where key='method' and value='magpie'"), 1);
    /* turn 1 started in Chinese: dropped, recorded, and written again in Japanese, which ends
     * at its paragraph (the model went on to answer) */
    assert_int_equal(q("select count(*) from candidates where reason='wrong_language' and "
                       "detail like 'stopped early%' and instruction like '请用Python%'"),
                     1);
    assert_int_equal(q("select count(*) from candidates where status='accepted' and "
                       "instruction='日本の四季について、それぞれの特徴を説明してください。' "
                       "and input='' and output like '答えその%'"),
                     1);
    /* turn 2 refers to a text: its second paragraph is the input */
    assert_int_equal(q("select count(*) from candidates where status='accepted' and "
                       "instruction='次の文章を要約してください。' and input like '昨日、市内の"
                       "図書館で読書会が開かれ%した。'"),
                     1);
    /* turn 3 ends where the model's own answer starts; turn 4 loses its question label;
     * turn 6 its heading marks */
    assert_int_equal(q("select count(*) from candidates where status='accepted' and "
                       "instruction='おすすめの朝食の献立を三つ考えてください。'"),
                     1);
    assert_int_equal(q("select count(*) from candidates where status='accepted' and "
                       "instruction='睡眠の質を高める習慣を三つ挙げてください。'"),
                     1);
    assert_int_equal(q("select count(*) from candidates where status='accepted' and "
                       "instruction='長方形の面積を求める方法を説明してください'"),
                     1);
    /* turn 5 is the assistant's turn, not a user's */
    assert_int_equal(q("select count(*) from candidates where reason='unparseable' and "
                       "detail like '%an answer, not a user turn%'"),
                     1);
    /* turn 7 only says the system message's words back */
    assert_int_equal(
        q("select count(*) from candidates where reason='prompt_copy' and "
          "detail like '%system message%' and instruction='具体的な質問や依頼は何ですか?'"),
        1);
    /* the answers came from the answer prompt, one request each */
    assert_int_equal(q("select count(*) from requests where stage=2"), 5);
    assert_int_equal(last.accepted, 5);
}

static void test_no_lang_check(void **state)
{
    (void)state;
    mscript *s;
    isynth_backend *b = magpie_model("chatml", false, &s);
    isynth_gen_params p = magpie_params();
    p.lang_check = false;
    p.max_requests = 2;
    isynth_progress last;
    isynth_error e;
    assert_int_equal(isynth_generate(&p, b, &last, &e), ISYNTH_OK);
    isynth_backend_free(b);
    /* the Chinese turn is written out and the filters reject it */
    assert_int_equal(q("select count(*) from candidates where detail like 'stopped early%'"), 0);
    assert_int_equal(q("select count(*) from candidates where status='rejected' and "
                       "instruction like '请用Python%'"),
                     1);
}

static void test_no_rewind(void **state)
{
    (void)state;
    mscript *s;
    isynth_backend *b = magpie_model("chatml", true, &s);
    isynth_gen_params p = magpie_params();
    p.max_requests = 1;
    isynth_progress last;
    isynth_error e;
    assert_int_equal(isynth_generate(&p, b, &last, &e), ISYNTH_OK);
    isynth_backend_free(b);
    /* a server's stream cannot be rewound: the turn ends at the check and is recorded once,
     * as stopped */
    assert_int_equal(q("select count(*) from candidates"), 1);
    assert_int_equal(q("select count(*) from candidates where reason='wrong_language' and "
                       "detail like 'stopped early%'"),
                     1);
    assert_int_equal(last.pending + last.accepted, 0);
}

static void test_needs_template(void **state)
{
    (void)state;
    mscript *s;
    isynth_backend *b = magpie_model(NULL, false, &s);
    isynth_gen_params p = magpie_params();
    isynth_progress last;
    isynth_error e;
    assert_int_equal(isynth_generate(&p, b, &last, &e), ISYNTH_ERR_INVALID);
    assert_non_null(strstr(e.msg, "chat template"));
    isynth_backend_free(b);
    /* and a template llama.cpp does not know fails before any request */
    b = magpie_model("<<unknown>>", false, &s);
    assert_int_equal(isynth_generate(&p, b, &last, &e), ISYNTH_ERR_MODEL);
    assert_int_equal(s->served, 0);
    isynth_backend_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_chatml),
        cmocka_unit_test(test_prefix_other_families),
        cmocka_unit_test(test_prefix_refused),
        cmocka_unit_test(test_system_message),
        cmocka_unit_test_setup_teardown(test_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_lang_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_rewind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_needs_template, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
