/* Facts to verify: the exact substrings of a generated answer that state checkable facts
 * (names, numbers with units, dates), listed so a human reviewer knows what to check by hand.
 * Precision matters as much as recall: ordinary words, list markers, bare arithmetic and
 * instruction counts ("3行で", "タスク1") are not listed.
 *
 * What is listed (every span is an exact byte substring of the text given):
 *
 * Numbers (ISYNTH_FACT_NUMBER), in every language. A number is ASCII or full-width digits with
 * ",ddd" groups and one decimal point; kanji multipliers 十百千万億兆 may follow Arabic digits
 * ("1億2,000万"); kanji numerals (三百, 二十五) count only where MeCab tags them 名詞,数, and a
 * single kanji numeral (一人, 二人, 一度) only inside a date chain, a range or an era year. A
 * number is listed when it has
 * - a counter or unit right after it: 年 月 日 時 分 秒 世紀 歳 人 名 個 件 回 度 倍 円 ドル 階 位
 *   番 号 本 枚 台 冊 点 割 条 代 か国 ... メートル キロ グラム ％ ℃ ..., or, after an optional
 *   space, a Latin unit (% m km cm mm kg g mg t L mL GB MB Hz W °C ... and words such as
 *   meters, miles, feet, percent, degrees, people, years, days, dollars, cents, yen, BC, AD);
 *   after a hyphen, a unit word or a Latin unit of two letters or more, with "-old" after it
 *   ("50-cent", "10-minute", "3-year-old", "5-km"; not "3-D", "5-m");
 * - a currency sign before it ($5, ¥1,000, €3, £2);
 * - a magnitude word after it (1.5 million, 3 billion, thousand, trillion);
 * - ",ddd" grouping (125,000,000), unless it touches an arithmetic operator (+ - * / = × ÷ < >);
 * - in English text only, four digits 1000-2099 standing alone: a year ("in 2006", "1990s"),
 *   again unless it touches an arithmetic operator;
 * - in English text only, two digits or more, or ",ddd" groups, then a space and a lower-case
 *   plural noun, both in the span ("306 bones", "1,000 islands"): not a noun that counts the
 *   answer's own structure or repeats (ideas examples ways tips steps reasons points things
 *   items sentences words lines paragraphs questions pages characters ... times), not after a
 *   capitalised label or name ("Step 12", "Windows 10 uses"; a function word such as "The" or
 *   "About" is no label), after a structural word ("step 12") or a word that sizes a list of
 *   the answer's own (here are, here's, following, these, top, first, give, list, write, name,
 *   provide ...), not touching an arithmetic operator, and not when the next word is a
 *   determiner or a number ("room 101 contains the", a verb); a single digit is never enough;
 * - a count with つ that is itself an answer: one or two digits or one kanji numeral 一 to 九
 *   (with or without MeCab), つ, and a predicate (です でした である だ ある あり あった 存在,
 *   or the end of the sentence; not だけ, あるいは) after a sentence start ("8つです。") or
 *   after は/が/も (全部で and 、 aside) following a word that does not end in a structural
 *   noun (理由 方法 ポイント 点 特徴 メリット 手順 例 要素 原因 種類 こと もの 方 ...:
 *   "惑星は8つあります" is listed, "理由は3つあります" is not); or the form "8つの惑星が
 *   あります" with the same test on the noun; never when the sentence ends with a colon or the
 *   next one starts a list (1つ目は, まず, 第一, 1., ・, -), as in "3つあります。1つ目は...".
 * A leading 約, 西暦 or 紀元前 is part of the span ("約3,776メートル"), and so is a minus sign
 * when a unit follows ("-5度"). Ranges keep both ends when a unit follows ("5〜10人");
 * fractions stay whole ("3分の1"); a rate is one span when both parts have a unit ("1日2回")
 * and nothing otherwise ("1日3食").
 * Not listed: bare numbers ("タスク1", "3 + 5 = 8", "3.14", list markers "1." and "1)"),
 * ordinals (第3章, "1つ目", "2番目", "3回目", "3代目"; but 第3代, a reign or generation, is
 * listed whole), vague counts (数百人, 何人), numbers glued to letters or identifiers (GPT4,
 * COVID-19, v2.0), the counters 行 文字 字 語 文 章 節 項 問 段落, and つ outside the answer
 * form above ("3つ挙げてください", "3つの理由"), which count the answer's own structure rather
 * than facts of the world.
 *
 * Dates (ISYNTH_FACT_DATE): 年/月/日/時/分/秒 chains joined into one span ("1867年2月9日",
 * "10時30分"); a number with 年 from 1000 on, 年代, 世紀 or 月; eras 明治 大正 昭和 平成 令和
 * with a number or 元 and 年 ("平成三十一年", "明治元年"); "2024-05-01" and "2024/5/1"; English
 * "February 9, 1867", "Feb. 9 1867", "9 February 1867", "February 9th", "March 2024",
 * "19th century", "300 BC"; and the English years above. A month name alone is not listed
 * ("May" and "March" are words too); a weekday always is, as a schedule or the day a date fell
 * on is checkable: 月曜日 and 月曜 (not 何曜日), "Monday" and "Mondays".
 *
 * Names (ISYNTH_FACT_NAME):
 * - Japanese, with MeCab (IPAdic): a run of 名詞,固有名詞 morphemes written in Japanese script
 *   (夏目+漱石, 山田+太郎), extended over directly following suffixes (県 都 市 駅 賞 学 社 ...:
 *   東京都, 静岡県, 京都大+学), katakana nouns (東京+スカイ+ツリー) and up to three other
 *   common nouns when the run ends on a suffix, katakana or a name-forming noun such as 大学 駅
 *   銀行 幕府 時代 戦争 条約 or one ending in 賞 (ノーベル+文学+賞, ノーベル+物理+学賞,
 *   江戸+幕府); a run never swallows a title after a personal name (アインシュタイン博士 gives
 *   アインシュタイン) and never ends on a plain common noun (日本経済 gives 日本). Katakana
 *   names joined by ・ stay whole (ビル・ゲイツ, レオナルド・ダ・ヴィンチ) unless both sides
 *   are places (ロンドン・パリ is a list). Not listed: a proper noun used as a modifier before
 *   語 人 的 風 系 流 式 製 産 性 化 版 用 型 (中国語, アメリカ人), a run that would start with a
 *   one-character proper noun (日米), and the era names alone (明治, 昭和).
 *   The planets 水星 金星 火星 木星 土星 天王星 海王星 冥王星 start a run like a proper noun
 *   (IPAdic tags most of them 名詞,一般; 火星探査機 gives 火星, 水星人 nothing); 地球, 月 and
 *   太陽 are too common to list. Historical events IPAdic does not tag as proper nouns: one
 *   名詞,一般 word of four characters or more ending in 奉還 維新 戦争 大戦 事件 革命 条約 改新
 *   置県 (大政奉還, 廃藩置県; 殺人事件 is two words and not listed), and the nouns (up to
 *   three, of two characters or more together) before の 乱 or の 変 (応仁の乱, 本能寺の変;
 *   not 変 as an adjective, 顔の変な), or before の 戦い or の 合戦 when one of them is a
 *   proper noun (関ヶ原の戦い; not 最後の戦い).
 * - Titles inside 『』 (『ノルウェイの森』 gives ノルウェイの森), up to 120 bytes, one line.
 * - Latin words (in both languages): runs of Capitalised words ("Nobel Prize in Literature",
 *   "Leonardo da Vinci", "Mt. Fuji"); inside a run, single spaces, initials ("John F. Kennedy"),
 *   the particles of de da di du del der van von la le, "of" and "of the", and "in"/"for"
 *   after an institution word (Prize, University, Institute, Museum, Bank ...), each only
 *   when a capitalised word follows; "Mr." "Dr." "Mt." "Inc." keep their dot. A version
 *   number right after a run belongs to it ("Python 3.12", "Windows 11"). A possessive 's
 *   ends the run before it. At the start of a sentence (text or line start, after . ! ? : or
 *   a list marker) a leading function word (The, In, This ...) is dropped ("The Nile" gives
 *   "Nile"); in English text a run that starts a sentence without one needs two or more words
 *   or a possessive ("Tokyo is" gives nothing; "Natsume Soseki won" gives "Natsume Soseki";
 *   "Einstein's theory" gives "Einstein"); elsewhere, and in Japanese text, where Latin words
 *   are not capitalised for a sentence start, one word is enough. Never name words: "I", month and
 * weekday names (a weekday is a date), structural words (Step, Task, Chapter, Section, Figure,
 * Table, Example, Question, Answer, Note, Version ...) at a run's start. Not listed: a run without
 * a lower-case letter (API, NASA, U.S., IMPORTANT NOTE), and a single word that is a function word
 * (The, This) or a nationality or language (English, Japanese), as 日本語 and 日本人 are not listed
 * either. Without MeCab (built without it, no dictionary, or use_mecab false) Japanese names other
 * than 『』 titles are not listed (planets and events neither), nor kanji numerals other than 一つ
 * to 九つ: katakana runs are mostly loanwords, so they are not guessed at.
 *
 * Everywhere: text inside ``` fences, `inline code` and URLs (http://, https://, www.) is
 * skipped. The list is in text order, without overlaps (at a tie the longer span wins) and
 * deduplicated by exact text (the first occurrence stays); a span longer than
 * ISYNTH_VERIFY_MAX_FACT_BYTES is dropped. Only the first max_bytes of the text are read
 * (cut back to a character boundary) and at most max_facts facts are listed. */
#ifndef ISYNTH_VERIFY_H
#define ISYNTH_VERIFY_H

#include "isynth/common.h"
#include "isynth/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults and limits of isynth_verify_params. */
#define ISYNTH_VERIFY_MAX_BYTES ((size_t)64 << 10)       /* default max_bytes: 64 KiB */
#define ISYNTH_VERIFY_MAX_BYTES_LIMIT ((size_t)16 << 20) /* largest max_bytes accepted */
#define ISYNTH_VERIFY_MAX_FACTS 64                       /* default max_facts */
#define ISYNTH_VERIFY_MAX_FACTS_LIMIT 4096               /* largest max_facts accepted */
#define ISYNTH_VERIFY_MAX_FACT_BYTES 256                 /* longer spans are not listed */

typedef enum isynth_fact_kind {
    ISYNTH_FACT_NUMBER = 0, /* a quantity: "3,776メートル", "42%", "$5", "1.5 million" */
    ISYNTH_FACT_DATE = 1,   /* a date, year, era year or century: "1867年2月9日", "2006" */
    ISYNTH_FACT_NAME = 2,   /* a person, place, organisation or work: "夏目漱石", "Nile" */
} isynth_fact_kind;

/* One fact: the byte span text[off..off+len) of the text given to isynth_verify_facts. */
typedef struct isynth_fact {
    size_t off, len;
    isynth_fact_kind kind;
} isynth_fact;

typedef struct isynth_verify_params {
    bool use_mecab;   /* tag Japanese with MeCab when built with it and a dictionary loads */
    size_t max_bytes; /* read at most this many bytes of a text: 1..ISYNTH_VERIFY_MAX_BYTES_LIMIT */
    size_t max_facts; /* list at most this many facts: 1..ISYNTH_VERIFY_MAX_FACTS_LIMIT */
} isynth_verify_params;

/* A verifier: the MeCab tagger and the scratch of the last call. Not thread-safe. */
typedef struct isynth_verifier isynth_verifier;

/* Defaults: use_mecab true, max_bytes ISYNTH_VERIFY_MAX_BYTES, max_facts
 * ISYNTH_VERIFY_MAX_FACTS. */
isynth_verify_params isynth_verify_params_default(void);

/* Creates a verifier (params NULL means the defaults); free with isynth_verifier_free().
 * ISYNTH_ERR_INVALID for out-of-range params. When MeCab is unavailable the verifier still
 * works with the rules alone: see isynth_verifier_has_mecab(). */
isynth_err isynth_verifier_new(const isynth_verify_params *params, isynth_verifier **out,
                               isynth_error *err);
/* Frees the verifier and every list it returned; NULL-safe. */
void isynth_verifier_free(isynth_verifier *v);
/* True when the verifier tags Japanese with MeCab. */
bool isynth_verifier_has_mecab(const isynth_verifier *v);

/* Lists the facts of text[0..len) (valid UTF-8 without NUL in the part read, else
 * ISYNTH_ERR_UTF8 naming the offset) for a text in language `lang`, in text order, into
 * *facts and *n. The array is owned by the verifier and valid until its next call or its free;
 * *facts is NULL when *n is 0. A text longer than max_bytes is read up to max_bytes. The text
 * need not be NUL-terminated (the verifier tags a copy). ISYNTH_ERR_NOMEM, or ISYNTH_ERR_MODEL
 * when MeCab fails; ISYNTH_ERR_INVALID for NULL arguments or an unknown language. */
isynth_err isynth_verify_facts(isynth_verifier *v, const char *text, size_t len, isynth_lang lang,
                               const isynth_fact **facts, size_t *n, isynth_error *err);

/* The same facts as a JSON array of their exact substrings, e.g. ["2006年","ノーベル文学賞"]
 * ("[]" when there is none), in a new NUL-terminated string the caller frees with
 * isynth_free(). Also replaces the list isynth_verify_facts returned last. */
isynth_err isynth_verify_json(isynth_verifier *v, const char *text, size_t len, isynth_lang lang,
                              char **json, isynth_error *err);

/* Static name of a kind: "number", "date", "name" ("unknown" for any other value). */
const char *isynth_fact_kind_name(isynth_fact_kind kind);

#ifdef __cplusplus
}
#endif
#endif
