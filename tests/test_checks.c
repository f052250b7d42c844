/* Row checks: every check with rows it must reject and near-misses it must keep, Japanese and
 * English. The texts are NFKC already, as the filter chain gives them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "isynth/checks.h"

static char detail[128];

static isynth_scaffold *scaf(void)
{
    isynth_scaffold *s = NULL;
    assert_int_equal(isynth_scaffold_new(&s, NULL), ISYNTH_OK);
    return s;
}

static const char *sc(const isynth_scaffold *s, const char *text)
{
    return isynth_checks_scaffolding(s, text, strlen(text), 0, detail, sizeof detail);
}

static void test_scaffolding(void **state)
{
    (void)state;
    isynth_scaffold *s = scaf();
    /* task numbers, the prompt's words, example labels, field labels */
    assert_string_equal(sc(s, "タスク5は、宇宙に関する内容にすること"), "scaffolding");
    assert_string_equal(sc(s, "ブラックホールとは何かを説明してください。タスク4"), "scaffolding");
    assert_string_equal(sc(s, "Task 3: Write a haiku about rain."), "scaffolding");
    assert_string_equal(sc(s, "新しいタスクとして、短い詩を書いてください。"), "scaffolding");
    assert_string_equal(sc(s, "示例2: 次の単語の意味を説明してください。"), "scaffolding");
    assert_string_equal(sc(s, "答えは42です。\n入力: なし"), "scaffolding");
    assert_string_equal(sc(s, "出力: 東京です。"), "scaffolding");
    assert_string_equal(sc(s, "カレーの作り方です。\n指示: 野菜を切る"), "scaffolding");
    assert_string_equal(sc(s, "まず材料を切ります。\n入力: 玉ねぎ\n出力: みじん切り"),
                        "scaffolding");
    assert_string_equal(sc(s, "Here is the answer.\nInput: <noinput>"), "scaffolding");
    assert_string_equal(sc(s, "例1: りんご\n入力: 果物"), "scaffolding");
    /* the subject rule, derived from the template around {{topic}} */
    assert_string_equal(sc(s, "どれも「料理」に関する内容にすること。"), "scaffolding");
    assert_string_equal(sc(s, "Every new task must be about travel."), "scaffolding");
    assert_non_null(strstr(detail, "Every new task must be about"));
    /* the subject rule restated with one of the subjects (a real row of the default model) */
    assert_string_equal(
        sc(s, "「見られる」が正しい形です。\n\nこのタスクは「文学」に関する内容から作られます。"),
        "scaffolding");
    assert_non_null(strstr(detail, "「文学」に関する内容"));
    assert_null(sc(s, "文学に関する本を3冊紹介してください。"));
    /* ... and around a subject of the model's own (a row the demo accepted) */
    assert_string_equal(sc(s, "「映画のレビューを書く」に関する内容について、以下のような丁寧な"
                              "表現に書き換えてください。"),
                        "scaffolding");
    assert_null(sc(s, "「少子化」に関する内容を200字で要約してください。"));
    assert_null(sc(s, "「少子化」について、原因を3つ挙げてください。"));
    /* the prompt's opening reworded (a row a real run accepted) */
    assert_string_equal(sc(s, "あなたが何か新しいアシスタントの学習用データを作成する専門家です。"),
                        "scaffolding");
    assert_null(sc(s, "音声アシスタントの使い方を3つ説明してください。"));
    /* the subject without its brackets, in an answer (real rows of bench-yield); a task may
     * ask about it */
    assert_string_equal(sc(s, "このタスクは、医療に関する内容の説明を示します。"), "scaffolding");
    assert_non_null(strstr(detail, "医療に関する内容"));
    assert_string_equal(sc(s, "概要は「医療に関する内容」です。"), "scaffolding");
    assert_null(isynth_checks_scaffolding(
        s, "健康に関する内容を3つ挙げてください。", strlen("健康に関する内容を3つ挙げてください。"),
        ISYNTH_SCAF_INSTRUCTION | ISYNTH_SCAF_TASK_FIELD, detail, sizeof detail));
    assert_null(sc(s, "医療に関する記事を要約しました。"));
    assert_null(sc(s, "「文学」という言葉の意味を説明してください。"));
    /* a rule line of the template written into a field */
    assert_string_equal(
        sc(s, "画像、音声、ファイル、インターネットを必要とするタスクは作らないこと"),
        "scaffolding");
    /* ordinary text that only looks similar */
    assert_null(sc(s, "1. 材料を切る\n2. 炒める\n3. 煮込む"));
    assert_null(sc(s, "敬語の例: いらっしゃいませ、かしこまりました"));
    assert_null(sc(s, "データ入力: 毎日の売上を記録します。"));
    assert_null(sc(s, "このプログラムの出力: 120"));
    assert_null(sc(s, "The task is to list three fruits."));
    assert_null(sc(s, "プロジェクトのタスクを整理する方法を教えてください。"));
    assert_null(sc(s, "Input validation matters: check every field."));
    /* a programming answer may show input and output of an example */
    const char *io = "def f(n): return n * 2\n入力: 5\n出力: 10";
    assert_string_equal(isynth_checks_scaffolding(s, io, strlen(io), 0, detail, sizeof detail),
                        "scaffolding");
    assert_null(
        isynth_checks_scaffolding(s, io, strlen(io), ISYNTH_SCAF_CODE_TASK, detail, sizeof detail));
    /* an instruction that starts with an example label; an answer may list examples */
    const char *ex = "例1: 次の文を過去形にしてください。";
    assert_string_equal(isynth_checks_scaffolding(s, ex, strlen(ex), ISYNTH_SCAF_INSTRUCTION,
                                                  detail, sizeof detail),
                        "scaffolding");
    assert_null(sc(s, ex));
    /* a label inside an instruction or an input, unless the task asks for code */
    const char *inl = "要者(入力: 接客)";
    assert_string_equal(isynth_checks_scaffolding(s, inl, strlen(inl), ISYNTH_SCAF_TASK_FIELD,
                                                  detail, sizeof detail),
                        "scaffolding");
    assert_null(sc(s, inl));
    const char *spec = "合計を返す関数を実装してください。入力: 整数のリスト";
    assert_null(isynth_checks_scaffolding(s, spec, strlen(spec),
                                          ISYNTH_SCAF_TASK_FIELD | ISYNTH_SCAF_CODE_TASK, detail,
                                          sizeof detail));
    const char *en = "Example 2: Give an antonym for the word ancient.";
    assert_string_equal(isynth_checks_scaffolding(s, en, strlen(en), ISYNTH_SCAF_INSTRUCTION,
                                                  detail, sizeof detail),
                        "scaffolding");
    isynth_scaffold_free(s);
}

static void test_scaffolding_template(void **state)
{
    (void)state;
    isynth_scaffold *s = scaf();
    assert_null(sc(s, "Q7: What is the capital of France?"));
    assert_null(sc(s, "Question: what is 2 + 2?\nAnswer: 4"));
    const char *tmpl = "Here are examples.\n{{examples}}\nWrite {{count}} more, starting at "
                       "Q{{next}}. Use \"Question:\" and \"Answer:\" lines.\n"
                       "- Each must concern {{topic}} and nothing else.";
    assert_int_equal(isynth_scaffold_add_template(s, tmpl, NULL), ISYNTH_OK);
    assert_string_equal(sc(s, "Q7: What is the capital of France?"), "scaffolding");
    assert_string_equal(sc(s, "Paris.\nQuestion: what next?"), "scaffolding");
    assert_string_equal(sc(s, "Each must concern geography"), "scaffolding");
    assert_null(sc(s, "Paris is the capital of France."));
    isynth_scaffold_free(s);
}

static const char *mi(const char *instr, const char *input)
{
    return isynth_checks_missing_input(instr, input, detail, sizeof detail);
}

static void test_missing_input(void **state)
{
    (void)state;
    assert_string_equal(mi("次の文章を一文で要約してください。", ""), "missing_input");
    assert_string_equal(mi("次の文章を一文で要約してください。」", ""), "missing_input");
    assert_string_equal(mi("以下の英文を和訳してください。", ""), "missing_input");
    assert_string_equal(mi("次の英語の文章を日本語に訳してください。", ""), "missing_input");
    assert_string_equal(mi("次のPythonコードの誤りを直してください。", ""), "missing_input");
    assert_string_equal(mi("この文章の主題を答えてください。", ""), "missing_input");
    assert_string_equal(mi("Summarize the following passage in one sentence.", ""),
                        "missing_input");
    assert_string_equal(mi("Translate this sentence into Japanese.", ""), "missing_input");
    assert_string_equal(mi("Correct the grammar in the sentence below.", ""), "missing_input");
    assert_string_equal(mi("Identify the main argument of the essay above.", ""), "missing_input");
    assert_string_equal(mi("次の会話文を読んで、話し手の気持ちを答えてください。", ""),
                        "missing_input");
    assert_string_equal(mi("下の表を見て、売上が一番多い月を答えてください。", ""),
                        "missing_input");
    /* the text is there: in the input, after a colon or a new line, quoted, or before この */
    assert_null(mi("次の文章を一文で要約してください。", "今日は朝から雨が降っていた。"));
    assert_null(
        mi("次の文章を一文で要約してください。\n\n駅前の商店街では毎年夏に祭りが開かれる。", ""));
    assert_null(mi("次の文を英語に訳してください: 私は毎朝コーヒーを飲みます。", ""));
    assert_null(mi("次の文「今日はいい天気です」を英語に訳してください。", ""));
    assert_null(
        mi("太郎はりんごを3個、花子は5個持っています。この問題の答えを求めてください。", ""));
    assert_null(mi("Summarize the following passage: The city council voted on Monday.", ""));
    /* no reference to a text at all */
    assert_null(mi("日本の首都はどこですか。", ""));
    assert_null(mi("次の日曜日に家族でできる遊びを3つ提案してください。", ""));
    assert_null(mi("次の休みに家族で行ける場所を教えてください。", ""));
    assert_null(mi("次のような場面で使える敬語を教えてください。", ""));
    assert_null(mi("この10年の変化を説明してください。", ""));
    assert_null(mi("Write a poem about the sea.", ""));
}

static const char *ub(const char *t)
{
    return isynth_checks_unbalanced(t, strlen(t), detail, sizeof detail);
}

static void test_unbalanced(void **state)
{
    (void)state;
    assert_string_equal(ub("「吾輩は猫である」の作者は誰ですか。」"), "unbalanced");
    assert_string_equal(ub("「吾輩は猫である"), "unbalanced");
    assert_non_null(strstr(detail, "never closed"));
    assert_string_equal(ub("『ノルウェイの森』と『海辺のカフカ"), "unbalanced");
    assert_string_equal(ub("(注意: 熱いので気をつけて"), "unbalanced");
    assert_string_equal(ub("He said “hello and left."), "unbalanced");
    assert_null(ub("「吾輩は猫である」の作者は夏目漱石です。"));
    assert_null(ub("『山』(やま) と「川」"));
    assert_null(ub("1) 材料を切る\n2) 炒める\na) 塩 b) 胡椒"));
    assert_null(ub("He said “hello” and left (quickly)."));
    assert_null(ub("77 °F (25 × 9/5 + 32 = 77)"));
    assert_null(ub(""));
}

static const char *rp(const char *t)
{
    return isynth_checks_repetition(t, strlen(t), detail, sizeof detail);
}

static void test_repetition(void **state)
{
    (void)state;
    assert_string_equal(
        rp("猫はかわいいです。猫はかわいいです。猫はかわいいです。猫はかわいいです。"),
        "repetition");
    assert_string_equal(rp("答え\n答えは東京です\n答えは東京です\n答えは東京です"), "repetition");
    assert_string_equal(rp("それはですですですですですですですです"), "repetition");
    assert_string_equal(rp("I like it. I like it. I like it. I like it."), "repetition");
    assert_string_equal(rp("ははははははははははははははははは"), "repetition");
    /* the repeated line is quoted by its first 60 bytes, which split a kanji here (2 ASCII bytes,
     * then 3 a character): the detail stays valid UTF-8, or `check --rejected` cannot write it */
    assert_string_equal(
        rp("Q:このインターフェースは、お客様が与えられる情報を伝えるための一部です。\n"
           "Q:このインターフェースは、お客様が与えられる情報を伝えるための一部です。\n"
           "Q:このインターフェースは、お客様が与えられる情報を伝えるための一部です。"),
        "repetition");
    size_t bad = 0;
    assert_true(utf8_valid(detail, strlen(detail), &bad));
    assert_non_null(strstr(detail, "\"Q:このインターフェースは、お客様が与えら\" 3 times"));
    /* long text made of a few repeated phrases */
    assert_string_equal(rp("春の海は青く、夏の海は青く、秋の海は青く、冬の海は青く、春の海は青く、"
                           "夏の海は青く、秋の海は青く、冬の海は青く、春の海は青く、夏の海は青く"),
                        "repetition");
    /* a refrain twice, numbers, tables, and ordinary prose are fine */
    assert_null(rp("ふるさとの空は高い。\n川は流れる。\nふるさとの空は高い。"));
    assert_null(rp("1/3 = 0.3333333333333333"));
    assert_null(rp("人口は1,000,000,000,000人ではありません。"));
    assert_null(rp("| a | b |\n|---|---|---|---|---|---|\n| 1 | 2 |"));
    assert_null(rp(
        "富士山は日本で一番高い山で、標高は3,776メートルです。静岡県と山梨県にまたがっています。"));
}

static const char *echo(const char *instr, const char *out)
{
    const char *reason = (const char *)1;
    assert_int_equal(isynth_checks_echo(instr, out, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    return reason;
}

static void test_echo(void **state)
{
    (void)state;
    assert_string_equal(echo("クジラが哺乳類である理由を説明してください。",
                             "クジラが哺乳類である理由を説明します。"),
                        "echo");
    assert_string_equal(echo("日本の四季について短い詩を書いてください。\n季節ごとに一行ずつ。",
                             "日本の四季について短い詩を書いてください。"),
                        "echo");
    assert_string_equal(echo("Explain why the sky is blue.", "I will explain why the sky is blue."),
                        "echo");
    /* restating the question and answering it is fine */
    /* the instruction restated as numbered steps (a real row of the default model): the list
     * numbers are not content of its own */
    assert_string_equal(echo("ビジネスのニュースを検索し、最新のニュースを提供してください。",
                             "1. ビジネスのニュースを検索する\n2. 最新のニュースを提供する"),
                        "echo");
    /* the output opens with the whole instruction again (a real row of the default model) */
    assert_string_equal(
        echo("何を食べているかを教えてください。",
             "何を食べているかを教えてください。具体的な食物は食べることができませんが、"
             "何を食べているかを教えてください。"),
        "echo");
    assert_non_null(strstr(detail, "repeating the whole instruction"));
    assert_null(echo("日本の首都を答えてください。", "日本の首都は東京です。"));
    assert_null(echo("カレーの作り方を手順で説明してください。",
                     "1. 野菜を切る\n2. 肉を炒める\n3. 煮込む"));
    assert_null(echo("クジラが哺乳類である理由を説明してください。",
                     "クジラが哺乳類である理由は、肺で呼吸し、子を母乳で育てるからです。"));
    /* a correction task gives back the passage, not the directive */
    assert_null(
        echo("次の文章の誤字を直してください。\n今日わ天気がよいので、公園え散歩に行きました。",
             "今日は天気がよいので、公園へ散歩に行きました。"));
    assert_null(echo("日本の首都はどこですか。", "東京です。"));
    assert_null(echo("日本の首都はどこですか。", "日本の首都は東京です。"));
    assert_null(echo("Explain why the sky is blue.",
                     "The sky is blue because air scatters blue light more than red."));
}

static const char *lang(const char *instr, const char *out)
{
    return isynth_checks_language_pair(instr, out, detail, sizeof detail);
}

static void test_language_pair(void **state)
{
    (void)state;
    assert_string_equal(lang("日本の首都について説明してください。",
                             "Tokyo is the capital of Japan and its largest city."),
                        "wrong_language");
    assert_string_equal(
        lang("日本の首都について説明してください。", "东京是日本的首都，也是最大的城市。"),
        "wrong_language");
    assert_string_equal(lang("Explain why leaves change colour in autumn.",
                             "秋になると日照時間が短くなり、葉の緑色の色素が分解されるからです。"),
                        "wrong_language");
    assert_string_equal(
        lang("上司へのメールを書いてください。",
             "Subject: 変更のお知らせ\n\nDear [上司の名前],\n\nI hope this message finds you "
             "well. I am writing to inform you about the changes."),
        "wrong_language");
    /* translations, code and short answers */
    assert_null(lang("次の文を英語に訳してください: 私は猫が好きです。", "I like cats."));
    assert_null(
        lang("PythonでFizzBuzzを書いてください。", "for i in range(1, 101):\n    print(i)"));
    assert_null(lang("日本の首都はどこですか。", "Tokyo"));
    assert_null(lang("日本の首都はどこですか。", "東京です。"));
    assert_null(lang("Translate into Japanese: I like cats.", "私は猫が好きです。"));
    assert_null(lang("What is the capital of Japan?", "The capital is Tokyo (東京)."));
}

static void test_answer(void **state)
{
    (void)state;
    assert_string_equal(isynth_checks_answer("次のアイテムを「靴」と「帽子」に分けてください。",
                                             "被服、靴、帽子がどのアイテムに配られますか。", detail,
                                             sizeof detail),
                        "no_answer");
    /* a list that starts at its second item (a real row of the default model) */
    assert_string_equal(
        isynth_checks_answer("家の中に隠したお菓子を探す宝探しを説明してください。",
                             "2. サンピングゲームで、家の中に隠したお菓子を探す宝を見つける",
                             detail, sizeof detail),
        "no_answer");
    assert_non_null(strstr(detail, "item 2"));
    assert_null(isynth_checks_answer("部屋を片付ける手順を教えてください。",
                                     "1. 床の物を拾う\n2. 棚に戻す", detail, sizeof detail));
    assert_null(isynth_checks_answer("1+1はいくつですか。", "2.", detail, sizeof detail));
    /* the assistant talking about itself, or only offering help (Magpie rows of the 0.5B) */
    assert_string_equal(isynth_checks_answer("あなたのアリティゾンはどのように設計されていますか?",
                                             "私はAIアシスタントで、AIを設計します。AIは人間AIの"
                                             "一部であり、非常に人間的なものです。",
                                             detail, sizeof detail),
                        "no_answer");
    assert_non_null(strstr(detail, "assistant"));
    /* a short claim about itself: a persona (Magpie rows of the 0.5B model) */
    assert_string_equal(isynth_checks_answer("あなたの夢の年齢は何歳ですか?", "私は45歳です。",
                                             detail, sizeof detail),
                        "no_answer");
    assert_string_equal(isynth_checks_answer("何の言葉を使用しているか?",
                                             "私は日本語のアシスタントです。", detail,
                                             sizeof detail),
                        "no_answer");
    /* an opinion asked for, answered in the first person at length, is an answer */
    assert_null(isynth_checks_answer(
        "在宅勤務についてどう思いますか。",
        "私は、通勤の時間がなくなる点で在宅勤務に賛成です。ただし、同僚と話す機会が減るため、"
        "週に一度は出社するのがよいと考えます。",
        detail, sizeof detail));
    assert_null(isynth_checks_answer("簡単に自己紹介をしてください。",
                                     "私はAIアシスタントです。文章の要約や翻訳が得意です。", detail,
                                     sizeof detail));
    assert_string_equal(isynth_checks_answer("ご理解いただけますか?",
                                             "もちろんです、よろしくお願いします。何か質問があれ"
                                             "ば何でもお知らせください。",
                                             detail, sizeof detail),
                        "no_answer");
    assert_non_null(strstr(detail, "offers help"));
    /* an answer that ends with an offer after its content is an answer */
    assert_null(isynth_checks_answer(
        "ゆで卵の作り方を教えてください。",
        "鍋に湯を沸かし、卵を静かに入れて8分ゆでます。ゆで上がったら冷水に取り、殻をむきます。"
        "固さはゆで時間で調整できます。半熟なら6分、固ゆでなら12分が目安です。"
        "何か質問があればお知らせください。",
        detail, sizeof detail));
    /* a mail may end with one */
    assert_null(isynth_checks_answer("取引先へのお礼のメールを短く書いてください。",
                                     "本日はありがとうございました。ご質問があればお気軽にお知らせ"
                                     "ください。",
                                     detail, sizeof detail));
    assert_null(isynth_checks_answer("次のリストの続きを2項目書いてください。\n1. りんご",
                                     "2. バナナ\n3. みかん", detail, sizeof detail));
    /* the items before the answer's first one given, not that one: the rest of the list */
    assert_null(isynth_checks_answer("果物の名前を挙げてください。\n1. りんご\n2.",
                                     "2. バナナ\n3. みかん", detail, sizeof detail));
    /* a task that lists items 1 to 3 answered from item 2 skipped the first (an Evol rewrite
     * of the 0.5B model) */
    assert_string_equal(
        isynth_checks_answer("次の漢字の読み方をひらがなで答えてください。\n1. 長さ\n"
                             "2. 金曜日\n3. 小さな花",
                             "2. きんようび\n3. ちいさなはな", detail, sizeof detail),
        "no_answer");
    assert_null(isynth_checks_answer("東京の面積は大阪府の何倍ですか。", "2.5倍です。", detail,
                                     sizeof detail));
    assert_null(isynth_checks_answer(
        "2020年は何の年でしたか。", "2020年は東京五輪が延期された年です。", detail, sizeof detail));
    assert_string_equal(isynth_checks_answer("接客のコツを教えてください。",
                                             "申し訳ありませんが、その質問にはお答えできません。",
                                             detail, sizeof detail),
                        "no_answer");
    /* a refusal that does not open with an apology (a real row of `./run demo`) */
    assert_string_equal(
        isynth_checks_answer("例の文章を書さないこと。",
                             "私は日本のアシスタントとして、あなたに質問に答えることはできません。"
                             "しかし、あなたの質問について適切な回答を提供していただけますか?",
                             detail, sizeof detail),
        "no_answer");
    /* "cannot" in an answer's own content is not a refusal */
    assert_null(isynth_checks_answer("18歳未満が選挙で投票できるか答えてください。",
                                     "日本では18歳未満は投票することはできません。", detail,
                                     sizeof detail));
    assert_null(isynth_checks_answer("ペットを飼えない理由を答えてください。",
                                     "規約で禁止されているので飼えません。回答できません、"
                                     "という答え方は避けましょう。",
                                     detail, sizeof detail));
    assert_string_equal(isynth_checks_answer("Explain photosynthesis.",
                                             "I'm sorry, but I cannot help with that.", detail,
                                             sizeof detail),
                        "no_answer");
    /* a polite refusal mail, a question asked for, a rhetorical close after an answer */
    assert_null(isynth_checks_answer("取引先への断りのメールを書いてください。",
                                     "申し訳ありませんが、今回はお引き受けできません。", detail,
                                     sizeof detail));
    assert_null(isynth_checks_answer("旅行についての質問を一つ作ってください。",
                                     "次の休みにどこへ行きたいですか。", detail, sizeof detail));
    assert_null(isynth_checks_answer("早起きの良さを説明してください。",
                                     "朝は頭が冴えます。あなたも試してみませんか。", detail,
                                     sizeof detail));
    assert_null(isynth_checks_answer("日本の首都は?", "東京です。", detail, sizeof detail));
    assert_null(isynth_checks_answer("Rewrite the sentence in a more formal tone.",
                                     "Could you please send me the report by tomorrow?", detail,
                                     sizeof detail));
    assert_null(isynth_checks_answer("次の英文を日本語に訳してください。", "駅はどこですか。",
                                     detail, sizeof detail));
    /* an answer that is itself a request to the reader (a real row of bench-yield) */
    assert_string_equal(isynth_checks_answer("2023年1月の日本語大賞の賞名を答えてください。",
                                             "2023年1月の日本語大賞の賞名を記載してください。",
                                             detail, sizeof detail),
                        "no_answer");
    assert_non_null(strstr(detail, "request"));
    /* unless a request, a notice or a message is what the task asks for */
    assert_null(isynth_checks_answer("会議室の使い方について、利用者への注意書きを一文で書いて"
                                     "ください。",
                                     "使用後は机と椅子を元の位置に戻してください。", detail,
                                     sizeof detail));
    assert_null(isynth_checks_answer("同僚に資料の確認を頼む一文を書いてください。",
                                     "お手すきの際に資料をご確認ください。", detail,
                                     sizeof detail));
    /* an answer with a request at its end after the answer itself */
    assert_null(isynth_checks_answer("風邪をひいたときの過ごし方を教えてください。",
                                     "水分をとって早めに寝ましょう。無理はしないでください。",
                                     detail, sizeof detail));
}

static void test_task(void **state)
{
    (void)state;
    isynth_scaffold *s = scaf();
    isynth_task t = {
        .instruction = "次の文章を一文で要約してください。", .input = "", .output = "要約します。"};
    const char *reason;
    assert_int_equal(isynth_checks_task(s, &t, true, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_string_equal(reason, "missing_input");
    /* the input is the instruction again (a real row of the default model, in `./run demo`),
     * found without the output too (early stop, two-stage) */
    isynth_task rep = {.instruction = "管理に必要な情報を提供し、ご質問に応じて回答してください。",
                       .input = "管理に必要な情報を提供し、ご質問に応じて回答してください。",
                       .output = "ご質問に応じて回答します。"};
    assert_int_equal(isynth_checks_task(s, &rep, false, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_string_equal(reason, "echo");
    assert_non_null(strstr(detail, "the input repeats the instruction"));
    /* the input is only a phrase of the instruction (a real row of `./run demo`); one the
     * instruction quotes is pointed at on purpose */
    isynth_task phrase = {.instruction = "青くて色濃い人気の歌手は誰ですか?理由も答えてください。",
                          .input = "青くて色濃い人気の歌手",
                          .output = "アギラクル・サッコです。"};
    assert_int_equal(isynth_checks_task(s, &phrase, false, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_string_equal(reason, "echo");
    assert_non_null(strstr(detail, "only repeats a phrase"));
    /* or its pieces stitched together (a real Evol-Instruct rewrite of the 0.5B model); an
     * input with words of its own is kept */
    isynth_task stitched = {.instruction =
                                "会議の日程変更をお願いするメールの本文を、社内の上司宛て"
                                "に短く書いてください。会議は6月10日14時からの予定で、"
                                "6月11日の午後に変更したいとします。",
                            .input = "6月10日14時から、6月11日の午後に変更したいとします。",
                            .output = "会議の日程変更をお願いします。"};
    assert_int_equal(isynth_checks_task(s, &stitched, false, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_string_equal(reason, "echo");
    assert_non_null(strstr(detail, "repeats words of the instruction"));
    stitched.input =
        "6月10日14時から、取引先との打ち合わせが入ったため、6月11日の午後に変更したい。";
    assert_int_equal(isynth_checks_task(s, &stitched, false, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_null(reason);
    /* a rewrite that gives the quoted sentence back (a real row of `./run demo`); one that
     * rewrites it is kept */
    isynth_task same = {
        .instruction =
            "「作物の長さは約300メートル」という文を、適切な句を使わずに言い換えてください。",
        .input = "",
        .output = "作物の長さは約300メートルです。"};
    assert_int_equal(isynth_checks_task(s, &same, true, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_string_equal(reason, "echo");
    assert_non_null(strstr(detail, "quoted sentence unchanged"));
    isynth_task rewritten = {.instruction =
                                 "「明日は雨が降るだろう」を丁寧な言い方に言い換えてください。",
                             .input = "",
                             .output = "明日は雨が降るでしょう。"};
    assert_int_equal(isynth_checks_task(s, &rewritten, true, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_null(reason);
    isynth_task quoted = {.instruction = "次の単語を英語に訳してください:「りんご」",
                          .input = "りんご",
                          .output = "apple"};
    assert_int_equal(isynth_checks_task(s, &quoted, true, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_null(reason);
    /* an input that quotes part of the instruction is an input */
    isynth_task part = {.instruction = "次の文を英語に訳してください。",
                        .input = "次の電車は何時に来ますか。",
                        .output = "When does the next train come?"};
    assert_int_equal(isynth_checks_task(s, &part, true, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_null(reason);
    isynth_task ok = {.instruction = "秋の季語を三つ挙げてください。",
                      .input = "",
                      .output = "紅葉、月見、稲刈り。"};
    assert_int_equal(isynth_checks_task(s, &ok, true, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_null(reason);
    /* without the output (two-stage, first request) the output checks are skipped */
    isynth_task no = {.instruction = "秋の季語を三つ挙げてください。",
                      .input = "",
                      .output = "Autumn words: maple, moon."};
    assert_int_equal(isynth_checks_task(s, &no, false, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_null(reason);
    assert_int_equal(isynth_checks_task(s, &no, true, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_string_equal(reason, "wrong_language");
    isynth_scaffold_free(s);
}

static void test_request(void **state)
{
    (void)state;
    assert_string_equal(isynth_checks_request("「古池や蛙飛びこむ水の音」", detail, sizeof detail),
                        "no_request");
    assert_string_equal(isynth_checks_request("「日落時の時間」\n", detail, sizeof detail),
                        "no_request");
    assert_string_equal(isynth_checks_request("\"To be or not to be\"", detail, sizeof detail),
                        "no_request");
    /* a quotation compared with itself (a real row of the default model) */
    assert_string_equal(
        isynth_checks_request("「何かが起こりたい」と「何かが起こりたい」の違いを簡単に"
                              "説明してください。",
                              detail, sizeof detail),
        "no_request");
    assert_non_null(strstr(detail, "itself"));
    assert_string_equal(isynth_checks_request("Explain the difference between \"affect\" and "
                                              "\"affect\".",
                                              detail, sizeof detail),
                        "no_request");
    assert_null(isynth_checks_request("「見れる」と「見られる」の違いを説明してください。", detail,
                                      sizeof detail));
    assert_null(isynth_checks_request("「見る」と「見られる」と「見る」の順に並べてください。",
                                      detail, sizeof detail));
    assert_null(isynth_checks_request("Explain the difference between \"affect\" and \"effect\".",
                                      detail, sizeof detail));
    assert_null(isynth_checks_request("「古池や蛙飛びこむ水の音」の季語は何ですか。", detail,
                                      sizeof detail));
    assert_null(isynth_checks_request("「彼は口が堅い」を言い換えて。「彼は秘密を守る」", detail,
                                      sizeof detail));
    assert_null(isynth_checks_request("日本の首都はどこですか。", detail, sizeof detail));
    assert_null(isynth_checks_request("\"Hi\" is a greeting. Explain it.", detail, sizeof detail));
    /* statements and next steps (seen in a real run) ask for nothing */
    assert_string_equal(
        isynth_checks_request("お手伝いをさせていただきます。", detail, sizeof detail),
        "no_request");
    assert_string_equal(isynth_checks_request("次に、ゲームのタイトルを「ロボット」にします。",
                                              detail, sizeof detail),
                        "no_request");
    assert_string_equal(isynth_checks_request("Next, list the steps.", detail, sizeof detail),
                        "no_request");
    assert_string_equal(
        isynth_checks_request("1. 次の文を、旅行の目的を具体的に書くこと。", detail, sizeof detail),
        "no_request");
    assert_string_equal(isynth_checks_request("新しい文学のテーマです。", detail, sizeof detail),
                        "no_request");
    assert_string_equal(isynth_checks_request("肉料理、魚料理などの基本的な要件を説明します。",
                                              detail, sizeof detail),
                        "no_request");
    /* requests in every form */
    static const char *const asks[] = {"秋の季語を三つ挙げてください。",
                                       "光合成について説明して。",
                                       "次の式を計算せよ。",
                                       "日本の首都は?",
                                       "なぜ空は青いのか。",
                                       "敬語の使い方を説明すること。",
                                       "この文を読んで\n要点をまとめて",
                                       "夏目漱石とはどんな人物でしたか。",
                                       "家族で楽しめる遊びを考えましょう。",
                                       "PythonでFizzBuzzを書いて",
                                       "英語に訳してほしい: 今日は晴れ",
                                       "おすすめの本を教えてもらえますか。"};
    for (size_t i = 0; i < sizeof asks / sizeof asks[0]; i++)
        if (isynth_checks_request(asks[i], detail, sizeof detail))
            fail_msg("%s: %s", asks[i], detail);
    /* English text is not judged by its grammar */
    assert_null(isynth_checks_request("Write a haiku about rain.", detail, sizeof detail));
    /* the input given back as the output */
    isynth_task t = {.instruction = "次の文の誤りを直してください。",
                     .input = "今日は晴れです。",
                     .output = "今日は、晴れです"};
    const char *reason;
    assert_int_equal(isynth_checks_task(NULL, &t, true, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_string_equal(reason, "echo");
    /* a piece of the instruction or of the input given back */
    isynth_task part = {
        .instruction = "次の会話の要点を、箇条書きで3点にまとめてください。\n\n"
                       "A: 来週の歓迎会、場所はどうしようか。\nB: 駅前の和食のお店はどう?",
        .input = "",
        .output = "A: 来週の歓迎会、場所はどうしようか。\nB: 駅前の和食のお店はどう?"};
    assert_int_equal(isynth_checks_task(NULL, &part, true, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_string_equal(reason, "echo");
    /* instruction and input given back together */
    isynth_task both = {.instruction = "旅行の目的を具体的に書くこと。",
                        .input = "旅行の目的は「家族との時間」などに書くこと。",
                        .output =
                            "旅行の目的を具体的に書くこと。\n\n旅行の目的は「家族との時間」などに"
                            "書くこと。"};
    assert_int_equal(isynth_checks_task(NULL, &both, true, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_string_equal(reason, "echo");
    /* a summary keeps letters in order but is not a piece */
    isynth_task subj = {.instruction = "Write a short subject line for the email below.",
                        .input = "Hi team, the quarterly review meeting moves from Tuesday to "
                                 "Thursday at 3 pm. The room stays the same.",
                        .output = "Quarterly review moved to Thursday, 3 pm"};
    assert_int_equal(isynth_checks_task(NULL, &subj, true, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_null(reason);
    isynth_task quote = {.instruction = "次の文から、最も大切な一文をそのまま抜き出してください。",
                         .input = "駅前の商店街では毎年夏に祭りが開かれ、多くの人が集まる。"
                                  "今年は雨で中止になった。",
                         .output = "駅前の商店街では毎年夏に祭りが開かれ、多くの人が集まる。"};
    assert_int_equal(isynth_checks_task(NULL, &quote, true, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_null(reason);
    isynth_task fixed = {.instruction = "次の文の誤りを直してください。",
                         .input = "今日わ晴れです。",
                         .output = "今日は晴れです。"};
    assert_int_equal(isynth_checks_task(NULL, &fixed, true, &reason, detail, sizeof detail, NULL),
                     ISYNTH_OK);
    assert_null(reason);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    for (long n = 1; n < 400; n++) {
        isynth_alloc_fail_at(n, false);
        isynth_scaffold *s = NULL;
        isynth_err rc = isynth_scaffold_new(&s, NULL);
        if (!rc)
            rc = isynth_scaffold_add_template(s, "Q{{next}} \"Question:\" {{topic}} rule", NULL);
        const char *reason = NULL;
        if (!rc)
            rc = isynth_checks_echo("クジラが哺乳類である理由を説明してください。",
                                    "クジラが哺乳類である理由を説明します。", &reason, detail,
                                    sizeof detail, NULL);
        long counted = isynth_alloc_fail_at(0, false);
        isynth_scaffold_free(s);
        if (counted < n) {
            assert_int_equal(rc, ISYNTH_OK);
            assert_string_equal(reason, "echo");
            return;
        }
        assert_int_equal(rc, ISYNTH_ERR_NOMEM);
    }
    fail_msg("allocation walk did not finish");
}

/* Chinese characters that Japanese does not write, in a Japanese row. */
/* The check of the three fields; its detail goes to the file's `detail`. */
static const char *hanzi(const char *instr, const char *input, const char *output)
{
    const char *f[3] = {instr, input, output};
    return isynth_checks_hanzi(instr, f, 3, detail, sizeof detail);
}

static void test_hanzi(void **state)
{
    (void)state;
    /* what the small model mixes in: simplified forms */
    assert_string_equal(hanzi("あなたの友達が好きなのは哪位ですか?", "", "这是好的。"),
                        "wrong_language");
    assert_string_equal(hanzi("長時間に訪問する地域を答えて。", "长時間の旅", "北海道です。"),
                        "wrong_language");
    assert_string_equal(hanzi("现在の会議について説明してください。", "", "はい。"),
                        "wrong_language");
    /* Japanese kanji, the rare ones too, and the iteration mark */
    assert_null(hanzi("「憂鬱」「薔薇」「檸檬」の読み方を答えてください。", "",
                      "ゆううつ、ばら、れもんです。佐々木さんも知っています。"));
    assert_null(hanzi("次の文を要約してください。", "駅前の商店街で朝市が開かれる。",
                      "駅前で朝市が開かれる。"));
    /* a task about Chinese, a Chinese-only row, code: not checked */
    assert_null(hanzi("「ありがとう」を中国語に訳してください。", "", "谢谢。"));
    assert_null(hanzi("这是什么?", "", "这是书。"));
    assert_null(hanzi("次のPythonコードを説明してください。", "print('这')", "文字を表示します。"));
    /* a Chinese word in characters Japanese also has (a real row of `./run demo`) */
    assert_string_equal(hanzi("公司の技術職員がどのような職務を務めているのかを教えてください。",
                              "", "技術サポートです。"),
                        "wrong_language");
    assert_non_null(strstr(detail, "公司"));
    assert_null(hanzi("会社の技術職員がどのような職務を務めているのかを教えてください。", "",
                      "技術サポートです。"));
    /* the Chinese counter and the Chinese name of the USA (real rows of Evol and Magpie runs) */
    assert_string_equal(
        hanzi("日本の都道府県の数を答えてください。", "日本の都道府県は28个です。", "47です。"),
        "wrong_language");
    assert_non_null(strstr(detail, "个"));
    assert_string_equal(hanzi("美国の首都はどこですか?", "", "ワシントンD.C.です。"),
                        "wrong_language");
    assert_null(hanzi("米国の首都はどこですか?", "", "ワシントンD.C.です。"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scaffolding),    cmocka_unit_test(test_scaffolding_template),
        cmocka_unit_test(test_missing_input),  cmocka_unit_test(test_unbalanced),
        cmocka_unit_test(test_repetition),     cmocka_unit_test(test_echo),
        cmocka_unit_test(test_language_pair),  cmocka_unit_test(test_task),
        cmocka_unit_test(test_answer),         cmocka_unit_test(test_request),
        cmocka_unit_test(test_alloc_failures), cmocka_unit_test(test_hanzi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
