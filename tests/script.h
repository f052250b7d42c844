/* The scripted backend of the pipeline tests (test_pipeline.c, test_report.c): a stand-in for
 * a model whose replies are fixed by the request's number, so that every outcome of a run (new
 * tasks, repeats, refusals, copies, failures, early stops) happens on cue. Include after
 * cmocka.h. It is a test double by design: the real model runs in the integration tests. */
#ifndef ISYNTH_TEST_SCRIPT_H
#define ISYNTH_TEST_SCRIPT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isynth/backend.h"
#include "isynth/task.h"

typedef struct script {
    int served;
    int cap;
    uint64_t ids[8];
    bool chat[8];
    char *last_user[8];
    size_t n;
    int fail_every;   /* every N-th request fails (0: never) */
    bool copy_prompt; /* the second task copies a line of the prompt's own instructions */
    bool stream;      /* decode like a model: the reply grows in small pieces, shown to the
                         request's watcher, which may cut a task (early stop) */
    isynth_watch_fn watch[8];
    void *watch_user[8];
    const isynth_task *seed; /* a seed the streamed replies copy */
    bool no_rewind;          /* a cut ends the reply, as a server's cancelled stream does */
} script;

static size_t s_capacity(void *p)
{
    script *s = p;
    return (size_t)s->cap - s->n;
}

static size_t s_in_flight(void *p)
{
    return ((script *)p)->n;
}

static isynth_err s_submit(void *p, const isynth_gen_req *req, isynth_error *err)
{
    (void)err;
    script *s = p;
    s->ids[s->n] = req->id;
    s->chat[s->n] = req->chat;
    s->last_user[s->n] = strdup(req->chat ? req->msgs[1].content : req->prompt);
    s->watch[s->n] = req->watch;
    s->watch_user[s->n] = req->watch_user;
    s->n++;
    return ISYNTH_OK;
}

/* Distinct instructions (ROUGE-L between any two well under 0.7). */
static const char *const topics[] = {
    "光合成の仕組みを小学生向けに説明してください。",
    "俳句を一つ作ってください。",
    "次の数列の次の数を答えてください。",
    "健康的な朝食の献立を考えてください。",
    "メールの書き出しの挨拶文を三通り書いてください。",
    "円周率とは何か簡単に述べよ。",
    "雨の日に子どもと楽しめる遊びを教えて。",
    "英単語appleを日本語に訳して。",
    "会議の議事録を取る時のコツは?",
    "地震に備えて家庭で準備すべき物を列挙してください。",
    "新入社員への励ましの言葉を書いてください。",
    "冷蔵庫の余り物で作れる料理を提案して。",
    "睡眠の質を高める習慣について助言をください。",
    "次の文章の誤字を直してください。",
    "桃太郎のあらすじを百字でまとめて。",
    "二酸化炭素が増えると何が起きますか。",
    "自転車のパンクの直し方を手順で示して。",
    "効果的な暗記法はありますか。",
    "友人の誕生日に贈る手紙の文面を考えて。",
    "水の沸点が山頂で低くなる理由は?",
};
#define N_TOPICS (sizeof topics / sizeof topics[0])

/* Streamed request k: five tasks, the first new, the second a copy of a seed, the third a
 * repeat of the previous request's first task, the fourth new but answered by echoing its
 * instruction (rejected for its output only, so early stop must let it through), the fifth
 * new but answered by a loop (cut while it loops). The text
 * grows 3 bytes at a time (never splitting a character) and the watcher sees every step: a cut
 * drops the task being written and the script goes on with its next one, as a model writes
 * another task in its place. completion_tokens counts the pieces decoded. The watcher's or the
 * callback's error is returned. */
static isynth_err stream_step(script *s, size_t i, int k, isynth_gen_cb cb, void *user,
                              isynth_error *err)
{
    char tasks[5][4096];
    snprintf(tasks[0], sizeof tasks[0], "タスク5\n指示: %s\n入力: なし\n出力: 1. 一つ目\n2. 二つ目",
             topics[(2 * k) % N_TOPICS]);
    snprintf(tasks[1], sizeof tasks[1], "タスク6\n指示: %s\n入力: %s\n出力: 一つ目です。",
             s->seed->instruction, s->seed->input[0] ? s->seed->input : "なし");
    snprintf(tasks[2], sizeof tasks[2], "タスク7\n指示: %s\n入力: なし\n出力: 二つ目です。",
             topics[(2 * (k - 1)) % N_TOPICS]);
    snprintf(tasks[3], sizeof tasks[3], "タスク8\n指示: %s\n入力: なし\n出力: %s",
             topics[(2 * k + 1) % N_TOPICS], topics[(2 * k + 1) % N_TOPICS]);
    snprintf(tasks[4], sizeof tasks[4], "タスク9\n指示: %s\n入力: なし\n出力: %s",
             topics[(2 * k + 2) % N_TOPICS],
             "これは同じ文です。これは同じ文です。これは同じ文です。これは同じ文です。"
             "これは同じ文です。これは同じ文です。これは同じ文です。これは同じ文です。");
    static char text[16384];
    size_t len = 0;
    long pieces = 0;
    bool ended = false;
    for (int t = 0; t < 5 && !ended; t++) {
        if (len && (len < 2 || memcmp(text + len - 2, "\n\n", 2))) {
            memcpy(text + len, "\n\n", 2);
            len += 2;
        }
        const char *src = tasks[t];
        size_t n = strlen(src);
        for (size_t j = 0; j < n;) {
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
            isynth_watch_act a = ISYNTH_WATCH_GO;
            isynth_err rc = s->watch[i](s->watch_user[i], s->ids[i], text, len, &a, &at, err);
            if (rc) return rc;
            if (a == ISYNTH_WATCH_GO) continue;
            len = at;
            text[len] = '\0';
            ended = a == ISYNTH_WATCH_END || s->no_rewind;
            break; /* CUT: this task is dropped, the next one is written in its place */
        }
    }
    isynth_gen_result r = {.id = s->ids[i],
                           .text = text,
                           .len = len,
                           .prompt_tokens = 10,
                           .completion_tokens = pieces};
    return cb(user, &r, err);
}

/* A callback or a watcher failed: the requests left are dropped, as a backend does. */
static isynth_err s_drop(script *s, isynth_err rc)
{
    while (s->n)
        free(s->last_user[--s->n]);
    return rc;
}

/* Request k (1-based) answers with two tasks: a new one, and a repeat of the previous
 * request's first task. */
static isynth_err s_step(void *p, isynth_gen_cb cb, void *user, isynth_error *err)
{
    script *s = p;
    isynth_err rc;
    while (s->n && s->stream) {
        s->n--;
        int k = ++s->served;
        free(s->last_user[s->n]);
        if ((rc = stream_step(s, s->n, k, cb, user, err))) return s_drop(s, rc);
    }
    while (s->n) {
        s->n--;
        int k = ++s->served;
        char text[2048];
        isynth_gen_result r = {.id = s->ids[s->n], .prompt_tokens = 10, .completion_tokens = 20};
        bool answer = strstr(s->last_user[s->n], "タスク") == NULL;
        if (s->fail_every && k % s->fail_every == 0) {
            r.status = ISYNTH_ERR_HTTP;
            r.error = "HTTP 500: scripted failure";
        } else if (answer) {
            snprintf(text, sizeof text, "回答その%dです。", k);
        } else if (k % 3 == 0) {
            snprintf(text, sizeof text, "申し訳ありませんが、お手伝いできません。");
        } else {
            /* task (k) is new; task (k-1) repeats the previous request's first task */
            snprintf(text, sizeof text,
                     "タスク5\n指示: %s\n入力: なし\n出力: 1. 一つ目\n2. 二つ目\n\n"
                     "タスク6\n指示: %s\n入力: なし\n出力: 答え",
                     topics[k % N_TOPICS],
                     s->copy_prompt ? "要約、分類、説明、アイデア出し、書き換えなど、互いに種類の"
                                      "異なるタスクにすること。"
                                    : topics[(k - 1) % N_TOPICS]);
        }
        r.text = text;
        r.len = strlen(text);
        free(s->last_user[s->n]);
        if ((rc = cb(user, &r, err))) return s_drop(s, rc);
    }
    return ISYNTH_OK;
}

static void s_info(void *p, isynth_backend_info *out)
{
    out->kind = "script";
    out->model = "script.gguf";
    out->model_name = "scripted";
    out->license = "";
    out->has_chat_template = true;
    out->rewinds = !((script *)p)->no_rewind;
    out->parallel = 2;
}

static void s_stats(void *p, isynth_backend_stats *out)
{
    (void)p;
    (void)out;
}

static void s_free(void *p)
{
    script *s = p;
    for (size_t i = 0; i < s->n; i++)
        free(s->last_user[i]);
    free(p);
}

static const isynth_backend_ops ops = {s_capacity, s_in_flight, s_submit, s_step,
                                       s_info,     s_stats,     s_free};

static inline isynth_backend *scripted_ex(int fail_every, bool copy_prompt)
{
    script *s = calloc(1, sizeof *s);
    s->cap = 2;
    s->fail_every = fail_every;
    s->copy_prompt = copy_prompt;
    isynth_backend *b;
    assert_int_equal(isynth_backend_wrap(&ops, s, &b), ISYNTH_OK);
    return b;
}

static inline isynth_backend *scripted(int fail_every)
{
    return scripted_ex(fail_every, false);
}

/* The script with cap requests in flight at most. */
static inline isynth_backend *scripted_cap(int cap)
{
    isynth_backend *b;
    script *s = calloc(1, sizeof *s);
    s->cap = cap;
    assert_int_equal(isynth_backend_wrap(&ops, s, &b), ISYNTH_OK);
    return b;
}

#endif
