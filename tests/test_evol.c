/* Evol-Instruct (generate --method evol): the prompt of every operation, WizardLM's elimination
 * rules (each with a case that eliminates and one that keeps), and a run of two rounds on a
 * scripted model with its lineage in run.db and data.jsonl. The script is a test double on
 * purpose: it rewrites a task the way each operation asks, or copies its parent, on cue, which
 * a real model does only now and then; the real model runs Evol in tests/generate.cmake
 * (gen_evol). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isynth/backend.h"
#include "isynth/filter.h"
#include "isynth/judge.h"
#include "isynth/pipeline.h"
#include "isynth/prompt.h"
#include "isynth/review.h"
#include "isynth/store.h"
#include "isynth/table.h"

#define TMPDIR_NAME "evol"
#include "tmpdir.h"
#include "rundb.h"

static const isynth_task parent_short = {
    .instruction = "光合成とは何か、中学生にもわかるように3文以内で説明してください。",
    .input = "",
    .output = "植物が光のエネルギーで養分を作るはたらきです。"};
static const isynth_task parent_long = {
    .instruction = "次の文章を一文で要約してください。",
    .input = "駅前の商店街では、来月から毎週土曜日に朝市が開かれることになった。地元の農家が"
             "野菜や果物を持ち寄り、店頭より安い価格で販売する。商店街の組合は、朝市をきっかけ"
             "に若い世帯の来客を増やしたいと考えている。",
    .output = "来月から毎週土曜日に駅前の商店街で朝市が開かれる。"};

/* ---- prompts ---- */

static void test_prompt_every_operation(void **state)
{
    (void)state;
    static const char *const marks[ISYNTH_EVOL_N] = {
        "制約や条件を一つ加える", "問いの深さと広がり",   "より具体的な概念",
        "何段階もの推論",         "入力の文章や表を長く", "より珍しい新しいタスク"};
    isynth_prompt_params pp = isynth_prompt_params_default();
    for (int op = 0; op < ISYNTH_EVOL_N; op++) {
        isynth_prompt pr;
        isynth_error e;
        assert_int_equal(isynth_prompt_evol(&pp, &parent_long, (isynth_evol_op)op, &pr, &e),
                         ISYNTH_OK);
        assert_non_null(strstr(pr.user, marks[op]));
        /* the whole parent is shown, input included */
        assert_non_null(strstr(pr.user, "指示: 次の文章を一文で要約してください。"));
        assert_non_null(strstr(pr.user, "入力: 駅前の商店街では"));
        /* only the operations that add to a task are held to a modest growth */
        assert_int_equal(strstr(pr.user, "10〜20語") != NULL,
                         isynth_evol_op_grows((isynth_evol_op)op));
        /* a base model continues after the instruction label, which parsing puts back */
        assert_string_equal(pr.parse_prefix, "指示: ");
        size_t n = strlen(pr.completion);
        assert_true(n > 8 && !strcmp(pr.completion + n - 8, "指示: "));
        isynth_prompt_clear(&pr);
    }
    assert_string_equal(isynth_evol_op_name(ISYNTH_EVOL_COMPLICATE_INPUT), "complicate_input");
    assert_string_equal(isynth_evol_op_name(ISYNTH_EVOL_N), "unknown");
    /* English seeds get English prompts; a task without input shows the placeholder */
    pp.lang = ISYNTH_LANG_EN;
    isynth_prompt pr;
    isynth_error e;
    isynth_task t = {.instruction = "Explain photosynthesis.", .input = "", .output = ""};
    assert_int_equal(isynth_prompt_evol(&pp, &t, ISYNTH_EVOL_REASONING, &pr, &e), ISYNTH_OK);
    assert_non_null(strstr(pr.user, "multiple steps of reasoning"));
    assert_non_null(strstr(pr.user, "Input: <noinput>"));
    isynth_prompt_clear(&pr);
}

/* ---- elimination ---- */

static isynth_filter *pool(void)
{
    isynth_filter_params fp = isynth_filter_params_default();
    fp.check_output = false;
    isynth_filter *f;
    isynth_error e;
    assert_int_equal(isynth_filter_new(&fp, &f, &e), ISYNTH_OK);
    assert_int_equal(isynth_filter_add(f, "s1", &parent_short, &e), ISYNTH_OK);
    assert_int_equal(isynth_filter_add(f, "s2", &parent_long, &e), ISYNTH_OK);
    return f;
}

/* The verdict's reason on instruction/input as a rewrite of parent ("" when kept). */
static const char *judge(isynth_filter *f, const char *ref, const isynth_task *parent,
                         const char *instruction, const char *input, bool grows, char *detail)
{
    static char reason[64];
    isynth_task t = {
        .instruction = strdup(instruction), .input = strdup(input), .output = strdup("")};
    isynth_error e;
    assert_int_equal(isynth_filter_normalize(&t, &e), ISYNTH_OK);
    isynth_verdict v;
    char *key = NULL;
    assert_int_equal(isynth_filter_check_evolved(f, &t, ref, parent, grows, &v, &key, &e),
                     ISYNTH_OK);
    snprintf(reason, sizeof reason, "%s", v.reason ? v.reason : "");
    if (detail) snprintf(detail, 128, "%s", v.detail);
    isynth_free(key);
    isynth_task_clear(&t);
    return reason;
}

static void test_elimination(void **state)
{
    (void)state;
    isynth_filter *f = pool();
    char d[128];
    /* keep: a constraint added */
    assert_string_equal(judge(f, "s1", &parent_short,
                              "光合成とは何か、中学生にもわかるように3文以内で説明してください。"
                              "ただし、身近な植物の例を一つ入れてください。",
                              "", true, d),
                        "");
    /* eliminate: the parent written back */
    assert_string_equal(judge(f, "s1", &parent_short, parent_short.instruction, "", true, d),
                        "no_evolution");
    assert_string_equal(d, "a copy of s1");
    /* eliminate: a word changed, nothing gained (ROUGE-L 0.9 or more) */
    assert_string_equal(judge(f, "s1", &parent_short,
                              "光合成とは何か、中学生にもわかるように3文以内で説明して下さい。", "",
                              false, d),
                        "no_evolution");
    assert_non_null(strstr(d, "rouge_l"));
    /* eliminate: an operation that adds, which took away */
    const char *shorter = "光合成について、中学生向けに説明してください。";
    assert_string_equal(judge(f, "s1", &parent_short, shorter, "", true, d), "no_evolution");
    assert_non_null(strstr(d, "not longer than s1"));
    /* keep: the same rewrite by an operation that need not add (concretize, breadth) */
    assert_string_equal(judge(f, "s1", &parent_short, shorter, "", false, d), "");
    /* keep: a constraint on a task with a long input that is kept: judged by its instruction */
    assert_string_equal(judge(f, "s2", &parent_long,
                              "次の文章を一文で要約してください。ただし、20字以内にしてください。",
                              parent_long.input, true, d),
                        "");
    /* eliminate: the same instruction on the same input */
    assert_string_equal(
        judge(f, "s2", &parent_long, parent_long.instruction, parent_long.input, true, d),
        "no_evolution");
    /* eliminate: the prompt's framing words */
    assert_string_equal(
        judge(f, "s1", &parent_short,
              "書き換えたタスク: 光合成の仕組みを、葉緑体のはたらきに触れて説明してく"
              "ださい。",
              "", true, d),
        "prompt_copy");
    /* the prompt's rule written into the input (a real rewrite of the 0.5B model) */
    assert_string_equal(judge(f, "s2", &parent_long,
                              "次の文章を一文で要約してください。ただし、20字以内にしてください。",
                              "6月10日14時から(入力は不要なら「6月10日14時」)", true, d),
                        "prompt_copy");
    /* keep: the parent is left out of the similarity checks (a rewrite is meant to resemble
     * it), which the ordinary check would reject as a seed copy */
    const char *close = "光合成とは何か、小学生にもわかるように2文以内で、例を挙げて説明してくださ"
                        "い。";
    assert_string_equal(judge(f, "s1", &parent_short, close, "", true, d), "");
    isynth_task t = {.instruction = strdup(close), .input = strdup(""), .output = strdup("")};
    isynth_verdict v;
    char *key = NULL;
    isynth_error e;
    assert_int_equal(isynth_filter_check_early(f, &t, NULL, NULL, 0, &v, &key, &e), ISYNTH_OK);
    assert_non_null(v.reason);
    isynth_free(key);
    isynth_task_clear(&t);
    /* but not out of the others: a rewrite of s1 that copies s2 is a seed copy */
    assert_string_equal(
        judge(f, "s1", &parent_short, parent_long.instruction, parent_long.input, false, d),
        "seed_copy");
    /* an unknown parent is an error, not a verdict */
    isynth_task u = {.instruction = "x", .input = "", .output = ""};
    assert_int_equal(isynth_filter_check_evolved(f, &u, "g99", &parent_short, true, &v, &key, &e),
                     ISYNTH_ERR_NOT_FOUND);
    assert_null(key);
    isynth_filter_free(f);
}

/* ---- a run on a scripted model ---- */

typedef struct escript {
    int served, answers;
    size_t n;
    uint64_t ids[2];
    bool chat[2];
    char *user[2];
    char failed_parent[2048]; /* the first rewrite of an accepted row fails (HTTP 500) */
} escript;

/* The script, kept for the test to read after the run (freed by the test). */
static escript *last_script;

static size_t e_capacity(void *p)
{
    return 1 - ((escript *)p)->n;
}

static size_t e_in_flight(void *p)
{
    return ((escript *)p)->n;
}

static isynth_err e_submit(void *p, const isynth_gen_req *req, isynth_error *err)
{
    (void)err;
    escript *s = p;
    s->ids[s->n] = req->id;
    s->user[s->n] = strdup(req->chat ? req->msgs[1].content : req->prompt);
    s->n++;
    return ISYNTH_OK;
}

static const char *const new_tasks[] = {
    "鉄道の時刻表を読むときに気をつける点を三つ挙げてください。",
    "古い手紙を長く保存するための工夫を説明してください。",
    "地域の図書館を多くの人に使ってもらうための案を考えてください。",
    "夏に室内で熱中症を防ぐ方法を箇条書きで示してください。",
    "初めて登山をする人に、持ち物の選び方を助言してください。",
    "家計簿を続けるためのこつを、続かなかった人向けに書いてください。",
    "雨水を庭で再利用する方法を、費用の安い順に説明してください。",
    "子ども向けに、月の満ち欠けが起きる理由を説明してください。",
};

/* The parent shown in an evolution prompt: after "元のタスク\n指示: " and "\n入力: ". */
static void parent_of(const char *prompt, char *instr, char *input, size_t cap)
{
    const char *p = strstr(prompt, "元のタスク\n指示: ");
    assert_non_null(p);
    p += strlen("元のタスク\n指示: ");
    const char *q = strstr(p, "\n入力: ");
    assert_non_null(q);
    snprintf(instr, cap, "%.*s", (int)(q - p), p);
    snprintf(input, cap, "%s", q + strlen("\n入力: "));
    if (!strcmp(input, "なし")) input[0] = '\0';
}

/* Rewrite k of the script: by the operation the prompt names; the second request writes its
 * parent back unchanged (eliminated as no_evolution). */
static void rewrite(int k, const char *prompt, char *out, size_t cap)
{
    char instr[2048], input[2048];
    parent_of(prompt, instr, input, sizeof instr);
    if (k == 2) {
        snprintf(out, cap, "指示: %s\n入力: %s", instr, input[0] ? input : "なし");
        return;
    }
    const char *in = input[0] ? input : "なし";
    if (strstr(prompt, "制約や条件を一つ加える"))
        snprintf(out, cap, "指示: %sただし、答えは箇条書きで三点にまとめてください。\n入力: %s",
                 instr, in);
    else if (strstr(prompt, "問いの深さと広がり"))
        snprintf(out, cap,
                 "指示: %sまた、そうなる理由と歴史的な背景も詳しく述べてください。\n入力: %s",
                 instr, in);
    else if (strstr(prompt, "より具体的な概念"))
        snprintf(out, cap, "指示: 東京に住む高校生の場合を例に、%s\n入力: %s", instr, in);
    else if (strstr(prompt, "何段階もの推論"))
        snprintf(out, cap,
                 "指示: %s考えを一つずつ段階を追って示し、最後に結論を書いてください。\n入力: %s",
                 instr, in);
    else if (strstr(prompt, "入力の文章や表を長く"))
        snprintf(out, cap,
                 "指示: %s\n入力: %s\nなお、参加者は三十名で、予算は五万円、会場は駅から徒歩五分の"
                 "公民館です。",
                 instr, in);
    else
        snprintf(out, cap, "指示: %s\n入力: なし",
                 new_tasks[(size_t)k % (sizeof new_tasks / sizeof new_tasks[0])]);
}

/* The requests left after a callback's error are dropped, as a backend does. */
static isynth_err e_drop(escript *s, isynth_err rc)
{
    while (s->n)
        free(s->user[--s->n]);
    return rc;
}

static isynth_err e_step(void *p, isynth_gen_cb cb, void *user, isynth_error *err)
{
    escript *s = p;
    isynth_err rc;
    while (s->n) {
        size_t i = --s->n;
        char text[8192];
        const char *orig = strstr(s->user[i], "元のタスク");
        if (orig && !s->failed_parent[0] && strstr(orig, "ただし、答えは箇条書きで三点")) {
            char instr[2048], input[2048];
            parent_of(s->user[i], instr, input, sizeof instr);
            snprintf(s->failed_parent, sizeof s->failed_parent, "%s", instr);
            free(s->user[i]);
            isynth_gen_result r = {
                .id = s->ids[i], .status = ISYNTH_ERR_HTTP, .error = "HTTP 500: scripted failure"};
            if ((rc = cb(user, &r, err))) return e_drop(s, rc);
            continue;
        }
        if (orig) {
            rewrite(++s->served, s->user[i], text, sizeof text);
        } else if (++s->answers == 2) {
            snprintf(text, sizeof text, "申し訳ありませんが、お答えできません。");
        } else {
            snprintf(text, sizeof text, "答えその%dです。順に説明します。", s->answers);
        }
        free(s->user[i]);
        isynth_gen_result r = {.id = s->ids[i],
                               .text = text,
                               .len = strlen(text),
                               .prompt_tokens = 40,
                               .completion_tokens = 30};
        if ((rc = cb(user, &r, err))) return e_drop(s, rc);
    }
    return ISYNTH_OK;
}

static void e_info(void *p, isynth_backend_info *out)
{
    (void)p;
    out->kind = "script";
    out->model = "script.gguf";
    out->model_name = "scripted";
    out->license = "";
    out->has_chat_template = true;
    out->rewinds = true;
    out->parallel = 1;
}

static void e_stats(void *p, isynth_backend_stats *out)
{
    (void)p;
    (void)out;
}

static void e_free(void *p)
{
    escript *s = p;
    for (size_t i = 0; i < s->n; i++)
        free(s->user[i]);
    s->n = 0;
    /* kept for the test to read (last_script), freed by the next run */
}

static const isynth_backend_ops eops = {e_capacity, e_in_flight, e_submit, e_step,
                                        e_info,     e_stats,     e_free};

static isynth_err run(int rounds, long max_requests, isynth_progress *last)
{
    free(last_script);
    escript *s = last_script = calloc(1, sizeof *s);
    isynth_backend *b;
    assert_int_equal(isynth_backend_wrap(&eops, s, &b), ISYNTH_OK);
    isynth_gen_params p = isynth_gen_params_default();
    p.seeds_path = ISYNTH_SOURCE_DIR "/data/seeds_ja.jsonl";
    p.out_dir = dir;
    p.method = ISYNTH_METHOD_EVOL;
    p.rounds = rounds;
    p.target = 1000;
    p.max_requests = max_requests;
    isynth_error e;
    isynth_err rc = isynth_generate(&p, b, last, &e);
    if (rc) print_message("generate: %s\n", e.msg);
    isynth_backend_free(b);
    return rc;
}

static void test_two_rounds(void **state)
{
    (void)state;
    isynth_progress last;
    assert_int_equal(run(2, 90, &last), ISYNTH_OK);
    assert_int_equal(q("select count(*) from meta where key='method' and value='evol'"), 1);
    /* every candidate of a rewrite request has its lineage */
    assert_int_equal(q("select count(*) from candidates c join requests r on r.id = c.request_id "
                       "where r.stage = 1 and c.reason is not 'unparseable' and c.id not in "
                       "(select candidate_id from lineage)"),
                     0);
    /* every operation was drawn and made an accepted row */
    for (int op = 0; op < ISYNTH_EVOL_N; op++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "select count(*) from candidates c join lineage l on l.candidate_id = c.id "
                 "where c.status = 'accepted' and l.operation = '%s'",
                 isynth_evol_op_name((isynth_evol_op)op));
        assert_true(q(sql) >= 1);
    }
    /* a rewrite that adds keeps its parent's text and grows it */
    assert_true(q("select count(*) from candidates c join lineage l on l.candidate_id = c.id "
                  "join seeds s on 's' || s.id = l.parent where l.operation = 'constraints' and "
                  "c.status = 'accepted' and c.instruction like '%ただし、答えは箇条書きで三点に"
                  "まとめてください。' and instr(c.instruction, s.instruction) = 1") >= 1);
    /* the parent written back was eliminated, with its lineage */
    assert_int_equal(q("select count(*) from candidates c join lineage l on l.candidate_id = c.id "
                       "where c.reason = 'no_evolution' and c.detail like 'a copy of %'"),
                     1);
    /* the answer that refuses was eliminated */
    assert_int_equal(q("select count(*) from candidates where reason = 'no_answer'"), 1);
    /* round 2: accepted rewrites rewritten again; each child's parent is an accepted round-1 row,
     * no round-2 row is evolved again (rounds = 2), and no row has two children */
    assert_true(q("select count(*) from lineage where round = 2") >= 1);
    assert_int_equal(q("select count(*) from lineage k left join lineage l on "
                       "'g' || l.candidate_id = k.parent left join candidates c on "
                       "c.id = l.candidate_id where k.round = 2 and (l.round is not 1 or "
                       "c.status != 'accepted')"),
                     0);
    assert_int_equal(q("select count(*) from lineage where round > 2"), 0);
    assert_int_equal(q("select count(*) from (select parent from lineage where parent like 'g%' "
                       "group by parent having count(*) > 1)"),
                     0);
    /* the rewrite of an accepted row whose request failed was asked again */
    assert_true(last_script->failed_parent[0] != '\0');
    assert_int_equal(q("select count(*) from requests where status = 'failed'"), 1);
    {
        char sql[4096];
        snprintf(sql, sizeof sql,
                 "select count(*) from lineage l join candidates c on 'g' || c.id = l.parent "
                 "where l.round = 2 and c.instruction = '%s'",
                 last_script->failed_parent);
        assert_int_equal(q(sql), 1);
    }
    /* data.jsonl carries method, parent_id (a seed's own id, or the generated row's), evolution
     * and round */
    char path[256];
    snprintf(path, sizeof path, "%s/data.jsonl", dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[65536];
    int rows = 0, round2 = 0;
    while (fgets(line, sizeof line, fp)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "method")), "evol");
        const char *pid = json_string_value(json_object_get(o, "parent_id"));
        const char *ev = json_string_value(json_object_get(o, "evolution"));
        json_int_t round = json_integer_value(json_object_get(o, "round"));
        assert_non_null(pid);
        assert_non_null(ev);
        if (round == 1) assert_true(!strncmp(pid, "seed-", 5) || pid[0] != 'g');
        if (round == 2) {
            assert_int_equal(pid[0], 'g');
            round2++;
        }
        rows++;
        json_decref(o);
    }
    fclose(fp);
    assert_int_equal(rows, last.accepted);
    assert_true(round2 >= 1);
    /* the review workbook's origin column shows the operation, the round and the parent's text */
    isynth_store *st;
    isynth_error e;
    assert_int_equal(isynth_store_open(dir, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_OK);
    snprintf(path, sizeof path, "%s/review.xlsx", dir);
    size_t n = 0;
    assert_int_equal(isynth_review_export_xlsx(st, path, false, &n, &e), ISYNTH_OK);
    isynth_store_close(st);
    isynth_table_reader *tr;
    assert_int_equal(isynth_table_reader_open(path, NULL, &tr, &e), ISYNTH_OK);
    size_t oc = 0;
    while (oc < isynth_table_ncols(tr) && strcmp(isynth_table_col_name(tr, oc), "origin"))
        oc++;
    assert_true(oc < isynth_table_ncols(tr));
    const char *const *cells;
    const size_t *lens;
    int from_seed = 0, from_row = 0;
    while (isynth_table_next(tr, &cells, &lens, &e) == ISYNTH_OK && cells) {
        assert_true(!strncmp(cells[oc], "evol: ", 6));
        from_seed += strstr(cells[oc], ", round 1, from s") != NULL;
        from_row += strstr(cells[oc], ", round 2, from g") != NULL;
        /* "from s3: 光合成とは…": the parent's text after its ref */
        const char *fr = strstr(cells[oc], ", from ");
        assert_non_null(fr);
        const char *colon = strstr(fr + 7, ": ");
        assert_true(colon && colon - fr < 16 && colon[2] != '\0');
    }
    isynth_table_reader_close(tr);
    assert_true(from_seed >= 1 && from_row >= 1);
    /* the report counts rewrites and accepted rows per operation and per round */
    snprintf(path, sizeof path, "%s/report.html", dir);
    fp = fopen(path, "r");
    assert_non_null(fp);
    static char html[4 << 20];
    size_t hn = fread(html, 1, sizeof html - 1, fp);
    html[hn] = '\0';
    fclose(fp);
    const char *ev = strstr(html, "\"evolution\":{");
    assert_non_null(ev);
    assert_non_null(strstr(ev, "\"complicate_input\":{\"rewrites\":"));
    assert_non_null(strstr(ev, "\"rounds\":{\"1\":{\"rewrites\":"));
    assert_non_null(strstr(html, "id=\"c-evol\""));
}

/* A judge double: every request is answered with a score of 4; it counts the prompts that show
 * an original task, and those whose original task is the row's own parent in run.db. */
typedef struct jscript {
    size_t n;
    uint64_t ids[4];
    int prompts, with_parent;
} jscript;

static size_t j_capacity(void *p)
{
    return 4 - ((jscript *)p)->n;
}

static size_t j_in_flight(void *p)
{
    return ((jscript *)p)->n;
}

static isynth_err j_submit(void *p, const isynth_gen_req *req, isynth_error *err)
{
    (void)err;
    jscript *s = p;
    s->ids[s->n++] = req->id;
    s->prompts++;
    const char *u = req->chat ? req->msgs[1].content : req->prompt;
    const char *par = strstr(u, "## 元のタスク");
    const char *ins = strstr(u, "## 指示\n");
    if (par && ins && par < ins) {
        /* the parent's instruction, as run.db has it */
        char sql[256], want[4096] = "";
        snprintf(sql, sizeof sql,
                 "select coalesce((select s.instruction from seeds s where 's' || s.id = "
                 "l.parent), (select c.instruction from candidates c where 'g' || c.id = "
                 "l.parent)) from lineage l where l.candidate_id = %llu",
                 (unsigned long long)req->id);
        char path[256];
        snprintf(path, sizeof path, "%s/run.db", dir);
        sqlite3 *db;
        sqlite3_stmt *st;
        if (sqlite3_open(path, &db) == SQLITE_OK &&
            sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
                snprintf(want, sizeof want, "%s", (const char *)sqlite3_column_text(st, 0));
            sqlite3_finalize(st);
        }
        sqlite3_close(db);
        const char *at = want[0] ? strstr(par, want) : NULL;
        s->with_parent += at && at < ins;
    }
    return ISYNTH_OK;
}

static isynth_err j_step(void *p, isynth_gen_cb cb, void *user, isynth_error *err)
{
    jscript *s = p;
    while (s->n) {
        const char *text = "{\"reason\": \"よい\", \"false_claims\": [], \"score\": 4}";
        isynth_gen_result r = {.id = s->ids[--s->n],
                               .text = text,
                               .len = strlen(text),
                               .prompt_tokens = 100,
                               .completion_tokens = 20};
        isynth_err rc = cb(user, &r, err);
        if (rc) {
            s->n = 0;
            return rc;
        }
    }
    return ISYNTH_OK;
}

static const isynth_backend_ops jops = {j_capacity, j_in_flight, j_submit, j_step,
                                        e_info,     e_stats,     free};

static void test_judge_sees_parent(void **state)
{
    (void)state;
    isynth_progress last;
    assert_int_equal(run(1, 30, &last), ISYNTH_OK);
    assert_true(last.accepted >= 2);
    jscript *js = calloc(1, sizeof *js);
    isynth_backend *b;
    assert_int_equal(isynth_backend_wrap(&jops, js, &b), ISYNTH_OK);
    isynth_store *st;
    isynth_error e;
    assert_int_equal(isynth_store_open(dir, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_OK);
    isynth_judge_run_params jp = isynth_judge_run_params_default();
    long judged = 0, failed = 0;
    assert_int_equal(isynth_judge_store(st, b, &jp, &judged, &failed, &e), ISYNTH_OK);
    isynth_store_close(st);
    /* every accepted rewrite was judged beside its own parent */
    assert_int_equal(judged, last.accepted);
    assert_int_equal(js->prompts, last.accepted);
    assert_int_equal(js->with_parent, last.accepted);
    isynth_backend_free(b);
}

static void test_resume_keeps_lineage(void **state)
{
    (void)state;
    isynth_progress last;
    assert_int_equal(run(2, 20, &last), ISYNTH_OK);
    long before = q("select count(*) from lineage");
    /* the same run continued: the rows waiting for round 2 are found again in run.db */
    assert_int_equal(run(2, 60, &last), ISYNTH_OK);
    assert_true(q("select count(*) from lineage") > before);
    assert_int_equal(q("select count(*) from (select parent from lineage where parent like 'g%' "
                       "group by parent having count(*) > 1)"),
                     0);
    assert_true(q("select count(*) from lineage where round = 2") >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompt_every_operation),
        cmocka_unit_test(test_elimination),
        cmocka_unit_test_setup_teardown(test_two_rounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_keeps_lineage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_judge_sees_parent, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(last_script);
    return rc;
}
