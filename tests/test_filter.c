/* Filter chain: lengths, exact duplicates of seeds and pool (through normalisation), copies of
 * the examples shown in the prompt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "isynth/filter.h"

static isynth_task mk(const char *instr, const char *input, const char *output)
{
    isynth_task t = {0};
    t.id = isynth_strdup("");
    t.instruction = isynth_strdup(instr);
    t.input = isynth_strdup(input);
    t.output = isynth_strdup(output);
    t.eval_aspect = isynth_strdup("");
    return t;
}

static const char *judge(isynth_filter *f, const char *instr, const char *input, const char *output,
                         const isynth_task *const *ex, size_t k, isynth_verdict *v)
{
    isynth_task t = mk(instr, input, output);
    assert_int_equal(isynth_filter_normalize(&t, NULL), ISYNTH_OK);
    const char *refs[4] = {"s1", "s2", "s3", "s4"};
    char *key = NULL;
    assert_int_equal(isynth_filter_check(f, &t, ex, refs, k, v, &key, NULL), ISYNTH_OK);
    assert_non_null(key);
    isynth_free(key);
    isynth_task_clear(&t);
    return v->reason;
}

static void test_chain(void **state)
{
    (void)state;
    isynth_filter_params p = isynth_filter_params_default();
    p.max_instruction_chars = 30;
    isynth_filter *f;
    assert_int_equal(isynth_filter_new(&p, &f, NULL), ISYNTH_OK);
    isynth_task seed = mk("日本の首都はどこですか。", "", "東京です。");
    assert_int_equal(isynth_filter_add(f, "s1", &seed, NULL), ISYNTH_OK);
    isynth_task ex2 = mk("次の文章を三行で要約してください。長い文章でも要点だけを残すこと。",
                         "今日は晴れ。", "晴れ。");
    const isynth_task *ex[] = {&seed, &ex2};
    isynth_verdict v;

    assert_null(judge(f, "富士山の高さを教えてください。", "", "3776メートルです。", ex, 2, &v));
    assert_string_equal(judge(f, "", "", "答え", ex, 2, &v), "empty");
    assert_string_equal(judge(f, "  \u3000 ", "", "答え", ex, 2, &v), "empty");
    assert_string_equal(judge(f, "何?", "", "答え", ex, 2, &v), "too_short");
    assert_string_equal(judge(f, "指示はあるが出力がない", "", "", ex, 2, &v), "empty");
    assert_string_equal(
        judge(f, "とても長い指示とても長い指示とても長い指示とても長い指示とても長い指示とても長い",
              "", "答え", ex, 2, &v),
        "too_long");
    /* the seed again, in full-width and with other punctuation: a copy of seed s1 */
    assert_string_equal(judge(f, "日本の首都は、どこですか？", "", "とうきょう", ex, 2, &v),
                        "seed_copy");
    assert_string_equal(v.detail, "s1");
    /* a near-verbatim copy of the example shown (shorter by a few characters) */
    assert_string_equal(judge(f, "次の文章を三行で要約してください。長い文章でも要点だけを残す",
                              "今日は晴れ。", "晴れ", ex, 2, &v),
                        "seed_copy");
    assert_string_equal(v.detail, "s2");
    /* the same instruction on another input is a different task */
    assert_null(judge(f, "次の文章を三行で要約してください。", "明日は雨。", "雨。", NULL, 0, &v));
    /* a seed that is a whole task on its own, restated with an input it never took: a copy,
       against the examples and against the pool */
    assert_string_equal(
        judge(f, "日本の首都はどこですか。", "東京か京都か", "東京です。", ex, 2, &v), "seed_copy");
    assert_string_equal(
        judge(f, "日本の首都はどこですか。", "東京か京都か", "東京です。", NULL, 0, &v),
        "seed_copy");

    isynth_task g = mk("富士山の高さを教えてください。", "", "3776メートルです。");
    assert_int_equal(isynth_filter_add(f, "g7", &g, NULL), ISYNTH_OK);
    assert_string_equal(judge(f, "富士山の高さを 教えてください!", "", "3776m", ex, 2, &v),
                        "duplicate");
    assert_string_equal(v.detail, "g7");
    isynth_task_clear(&g);
    isynth_task_clear(&seed);
    isynth_task_clear(&ex2);
    isynth_filter_free(f);
}

static void test_many_keys(void **state)
{
    (void)state;
    isynth_filter_params p = isynth_filter_params_default();
    p.rouge_threshold = 0; /* exact duplicates only: these keys differ by a number */
    isynth_filter *f;
    assert_int_equal(isynth_filter_new(&p, &f, NULL), ISYNTH_OK);
    char buf[64];
    for (int i = 0; i < 2000; i++) {
        snprintf(buf, sizeof buf, "タスク番号%dについて説明してください", i);
        isynth_task t = mk(buf, "", "x");
        char ref[16];
        snprintf(ref, sizeof ref, "g%d", i);
        assert_int_equal(isynth_filter_add(f, ref, &t, NULL), ISYNTH_OK);
        isynth_task_clear(&t);
    }
    isynth_verdict v;
    assert_string_equal(judge(f, "タスク番号1234について説明してください", "", "y", NULL, 0, &v),
                        "duplicate");
    assert_string_equal(v.detail, "g1234");
    assert_null(judge(f, "タスク番号2000について説明してください", "", "y", NULL, 0, &v));
    isynth_filter_free(f);
}

/* ROUGE-L on character tokens: a Japanese near-copy of a seed (a few characters changed,
 * which exact and containment checks miss) is rejected, the nearest neighbour is stored for
 * every candidate, and the quality filters run before it. */
static void test_rouge_and_quality(void **state)
{
    (void)state;
    isynth_filter_params p = isynth_filter_params_default();
    isynth_filter *f;
    assert_int_equal(isynth_filter_new(&p, &f, NULL), ISYNTH_OK);
    isynth_task s1 = mk("仕事の熱意を取り戻すためのアイデアを5つ挙げてください。", "", "1. 休む");
    isynth_task s2 = mk("次の文章を敬語に書き換えてください。", "明日行きます。", "明日伺います。");
    assert_int_equal(isynth_filter_add(f, "s1", &s1, NULL), ISYNTH_OK);
    assert_int_equal(isynth_filter_add(f, "s2", &s2, NULL), ISYNTH_OK);
    isynth_verdict v;
    /* not shown in the prompt, but nearly the same as seed 1: still a seed copy, found by the
     * pool-wide ROUGE-L */
    assert_string_equal(judge(f, "仕事への熱意を取り戻すためのアイディアを5つ挙げてください。", "",
                              "1. 寝る", NULL, 0, &v),
                        "seed_copy");
    assert_string_equal(v.nn_ref, "s1");
    assert_true(v.nn_score >= 0.7 && v.nn_score < 1.0);
    assert_non_null(strstr(v.detail, "rouge_l="));
    /* nearly the same as a generated task: rouge */
    isynth_task g = mk("冬の朝に布団から出るためのコツを3つ教えてください。", "", "1. 暖房");
    assert_int_equal(isynth_filter_add(f, "g9", &g, NULL), ISYNTH_OK);
    assert_string_equal(
        judge(f, "冬の朝に布団から出るためのコツを三つ教えてください。", "", "1. 光", NULL, 0, &v),
        "rouge");
    assert_string_equal(v.nn_ref, "g9");
    isynth_task_clear(&g);
    /* a line of the prompt's own instructions written back */
    isynth_task pl = mk("要約、分類、説明、アイデア出し、書き換え、計算、創作など、互いに種類の異な"
                        "るタスクにすること。",
                        "", "");
    assert_int_equal(isynth_filter_add(f, "p2", &pl, NULL), ISYNTH_OK);
    assert_string_equal(
        judge(f, "要約、分類、説明、書き換えなど、互いに種類の異なるタスクにすること。", "", "x",
              NULL, 0, &v),
        "prompt_copy");
    isynth_task_clear(&pl);
    /* shown in the prompt: a near-copy of the example is a seed copy */
    const isynth_task *ex[] = {&s1};
    assert_string_equal(judge(f, "仕事への熱意を取り戻すためのアイディアを5つ挙げてください。", "",
                              "1. 寝る", ex, 1, &v),
                        "seed_copy");
    /* a different task passes, with its nearest neighbour and a lower score recorded */
    assert_null(judge(f, "リモートワークの生産性を上げるコツを3つ教えてください。", "", "1. 休憩",
                      ex, 1, &v));
    assert_true(v.nn_ref[0] != '\0'); /* a seed, a prompt line or g9, whichever is nearest */
    assert_true(v.nn_score >= 0 && v.nn_score < 0.7);
    /* keyword filter (needs an image) and language filter run before ROUGE-L */
    assert_string_equal(
        judge(f, "この画像に写っている動物の名前を答えてください。", "", "猫", NULL, 0, &v),
        "keyword");
    isynth_task_clear(&s1);
    isynth_task_clear(&s2);
    isynth_filter_free(f);
}

/* A seed's answer pasted under a new instruction with its key words swapped: the rows are the
 * default model's, from a real run on data/seeds_ja.jsonl (seed 27). Answers that only share
 * grammar with a seed's, or that share one set phrase, are kept. */
static void test_output_fragment(void **state)
{
    (void)state;
    isynth_filter_params p = isynth_filter_params_default();
    isynth_filter *f;
    assert_int_equal(isynth_filter_new(&p, &f, NULL), ISYNTH_OK);
    isynth_task s1 = mk("「見れる」と「見られる」の違いを簡単に説明してください。", "",
                        "「見られる」は動詞「見る」の可能形として文法的に正しい形で、「見れる」は"
                        "「ら」を抜いた話し言葉の形(ら抜き言葉)です。\n日常会話では広く使われて"
                        "いますが、改まった文章や公的な場面では「見られる」を使うのが無難です。");
    isynth_task s2 =
        mk("取引先に送る、打ち合わせ日程変更のお願いのメールを書いてください。", "",
           "件名: 打ち合わせ日程変更のお願い\n\n山田様\n\nいつもお世話になって"
           "おります。来週の打ち合わせの日程を変更させていただけないでしょうか。ご不明な"
           "点がございましたら、お気軽にお問い合わせください。");
    assert_int_equal(isynth_filter_add(f, "s1", &s1, NULL), ISYNTH_OK);
    assert_int_equal(isynth_filter_add(f, "s2", &s2, NULL), ISYNTH_OK);
    isynth_verdict v;
    assert_string_equal(
        judge(
            f, "「メールを送る」のことを簡単に説明し、使い方の例文を1つ示してください。", "",
            "1. 「メールを送る」は、メールを送るの可能形として文法的に正しい形で、「メールを送る」"
            "は「ら」を抜いた話し言葉の形(ら抜き言葉)です。",
            NULL, 0, &v),
        "output_copy");
    assert_non_null(strstr(v.detail, "shared with s1's output"));
    /* the same answer's own words: a different task, a different answer */
    assert_null(judge(f, "「食べる」の尊敬語と謙譲語を、それぞれ例文とともに示してください。", "",
                      "尊敬語は「召し上がる」で、例文は「先生が昼食を召し上がる」です。謙譲語は"
                      "「いただく」で、例文は「私がお菓子をいただく」です。",
                      NULL, 0, &v));
    /* one set phrase in common with a seed's email is not a copy of it */
    assert_null(judge(f, "店の予約を取り消すメールを書いてください。", "",
                      "件名: 予約取り消しのご連絡\n\n鈴木様\n\n5月3日に予約しておりました田中です。"
                      "都合により、予約を取り消させていただきます。直前のご連絡となり申し訳ありま"
                      "せん。ご不明な点がございましたら、お気軽にお問い合わせください。",
                      NULL, 0, &v));
    /* a generated example shown in the prompt counts like a seed */
    isynth_task g =
        mk("雨の日に子どもと家で楽しめる遊びを3つ挙げてください。", "",
           "1. 新聞紙で大きなかぶとを折って、家族で見せ合う。\n2. 段ボールで迷路を作り、"
           "ビー玉を転がして遊ぶ。\n3. 家の中で宝探しゲームをする。");
    const isynth_task *ex[] = {&g};
    const char *refs[] = {"g5"};
    isynth_task t =
        mk("子どもの誕生日会で盛り上がる出し物の案を出してください。", "",
           "1. 新聞紙で大きなかぶとを折って、家族で見せ合う。\n2. 段ボールで迷路を作り、"
           "ビー玉を転がす。\n3. 家の中でかくれんぼをする。");
    assert_int_equal(isynth_filter_normalize(&t, NULL), ISYNTH_OK);
    char *key = NULL;
    assert_int_equal(isynth_filter_check(f, &t, ex, refs, 1, &v, &key, NULL), ISYNTH_OK);
    assert_non_null(v.reason);
    assert_string_equal(v.reason, "output_copy");
    assert_non_null(strstr(v.detail, "g5"));
    isynth_free(key);
    isynth_task_clear(&t);
    /* switched off */
    isynth_filter_free(f);
    p.output_fragment_share = 0;
    assert_int_equal(isynth_filter_new(&p, &f, NULL), ISYNTH_OK);
    assert_int_equal(isynth_filter_add(f, "s1", &s1, NULL), ISYNTH_OK);
    assert_null(judge(f, "「メールを送る」のことを簡単に説明し、使い方の例文を1つ示してください。",
                      "",
                      "1. 「メールを送る」は、メールを送るの可能形として文法的に正しい形で、"
                      "「メールを送る」は「ら」を抜いた話し言葉の形(ら抜き言葉)です。",
                      NULL, 0, &v));
    isynth_task_clear(&g);
    isynth_task_clear(&s1);
    isynth_task_clear(&s2);
    isynth_filter_free(f);
}

/* An answer holding a long run of a seed's text that its own task does not give: the seed's memo
 * or answer pasted in (a real row of bench-yield: the welcome-party bullets of a seed whose
 * conversation the new task never showed). */
static void test_seed_content(void **state)
{
    (void)state;
    isynth_filter_params p = isynth_filter_params_default();
    isynth_filter *f;
    assert_int_equal(isynth_filter_new(&p, &f, NULL), ISYNTH_OK);
    isynth_task s1 = mk("次の会話の要点を、箇条書きで3点にまとめてください。\n\nA: 来週の歓迎会、"
                        "場所はどうしようか。\nB: 駅前の和食のお店はどう?個室があるよ。\nA: "
                        "いいね。人数は15人くらいになりそう。",
                        "",
                        "- 来週の歓迎会は駅前の和食店(個室あり)で開く\n- 参加は15人ほどの見込み"
                        "\n- 予約はBさんが担当する");
    assert_int_equal(isynth_filter_add(f, "s1", &s1, NULL), ISYNTH_OK);
    isynth_verdict v;
    assert_string_equal(judge(f, "来週の歓迎会を、場所を、箇条書きで3点にまとめてください。", "",
                              "- 来週の歓迎会は駅前の和食店(個室あり)で開く\n- 会費は一人4,000円"
                              "とし、Aさんが案内を出す\n\nアイデア出し: 駅前の和食店の場所を、"
                              "個室があり、会費が14,000円で約20メートルで開くと、会議を予約するため"
                              "の可能性があります。地元の野菜や果物を安い価格で販売し、若い世帯の"
                              "来店を増やします。",
                              NULL, 0, &v),
                        "output_copy");
    assert_non_null(strstr(v.detail, "s1's text"));
    /* the same sentence given in the task's own input may be quoted */
    assert_null(judge(f, "次のメモを一文にまとめてください。",
                      "来週の歓迎会は駅前の和食店(個室あり)で開く。会費は一人4,000円。",
                      "来週の歓迎会は駅前の和食店(個室あり)で開き、会費は一人4,000円です。", NULL,
                      0, &v));
    /* a shorter shared run is not a copy */
    assert_null(judge(f, "社内の送別会の案内文を書いてください。", "",
                      "来週の送別会は駅前の和食店で開きます。参加を希望する方は金曜日までに"
                      "お知らせください。",
                      NULL, 0, &v));
    isynth_task_clear(&s1);
    isynth_filter_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_rouge_and_quality),
        cmocka_unit_test(test_output_fragment),
        cmocka_unit_test(test_seed_content),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
