/* Facts to verify: the substrings of a generated answer that a reviewer should check by hand
 * (names, numbers with units, dates); the rules are listed in include/isynth/verify.h.
 * The one idea: a single left-to-right scanner finds numbers, dates, 『』 titles and Latin
 * names by rule, and skips a whole number or word it rejects so that nothing is found inside
 * it; MeCab, for Japanese, only adds name spans (proper nouns, planets, historical events) and
 * marks which kanji are numerals.
 * Every span is an offset into the caller's bytes; overlaps and duplicates are settled once,
 * at the end. */
#include "isynth/verify.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#ifdef ISYNTH_HAVE_MECAB
#include <mecab.h>
#endif

/* per-byte flags of the text being read */
enum { F_KNUM = 1, F_CODE = 2 };

struct isynth_verifier {
    isynth_verify_params p;
#ifdef ISYNTH_HAVE_MECAB
    mecab_t *mecab;
#endif
    isynth_fact *cands; /* every span found, before overlaps and duplicates are settled */
    size_t ncand, candcap;
    isynth_fact *facts; /* the answer: p.max_facts entries allocated once */
    size_t nfacts;
    char *work; /* a NUL-terminated copy of the text read (MeCab needs the NUL), then flags */
    size_t workcap;
};

typedef struct scan {
    isynth_verifier *v;
    const char *s;
    size_t n;
    const unsigned char *flags;
    isynth_lang lang;
} scan;

static const char *const kind_names[] = {"number", "date", "name"};

const char *isynth_fact_kind_name(isynth_fact_kind kind)
{
    return (unsigned)kind < 3 ? kind_names[kind] : "unknown";
}

/* ---- characters ------------------------------------------------------------------------- */

/* The code point at i and its length in *l; 0 with *l = 0 at the end. */
static uint32_t at(const scan *sc, size_t i, size_t *l)
{
    if (i >= sc->n) {
        *l = 0;
        return 0;
    }
    uint32_t c;
    *l = utf8_decode(sc->s + i, sc->n - i, &c);
    return c;
}

/* The code point that ends at i, its first byte in *start; 0 at the start of the text. */
static uint32_t before(const scan *sc, size_t i, size_t *start)
{
    if (i == 0 || i > sc->n) {
        *start = 0;
        return 0;
    }
    size_t j = i - 1;
    while (j > 0 && i - j < 4 && ((unsigned char)sc->s[j] & 0xC0) == 0x80)
        j--;
    *start = j;
    uint32_t c;
    utf8_decode(sc->s + j, i - j, &c);
    return c;
}

static bool lit(const scan *sc, size_t i, const char *w)
{
    size_t k = strlen(w);
    return i <= sc->n && k <= sc->n - i && !memcmp(sc->s + i, w, k);
}

static bool is_ascii_digit(uint32_t c)
{
    return c >= '0' && c <= '9';
}

static int digit_val(uint32_t c)
{
    if (is_ascii_digit(c)) return (int)(c - '0');
    if (c >= 0xFF10 && c <= 0xFF19) /* full-width ０-９ */
        return (int)(c - 0xFF10);
    return -1;
}

static bool is_latin(uint32_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7);
}

static bool is_upper(uint32_t c)
{
    return utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_LU;
}

static bool is_lower(uint32_t c)
{
    return utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_LL;
}

static bool is_alnum(uint32_t c)
{
    return is_latin(c) || digit_val(c) >= 0;
}

static bool is_kanji_numeral(uint32_t c)
{
    static const uint32_t k[] = {0x3007, 0x4E00, 0x4E8C, 0x4E09, 0x56DB, 0x4E94, 0x516D, 0x4E03,
                                 0x516B, 0x4E5D, 0x5341, 0x767E, 0x5343, 0x4E07, 0x5104, 0x5146};
    /* 〇一二三四五六七八九十百千万億兆 */
    for (size_t i = 0; i < sizeof k / sizeof *k; i++)
        if (k[i] == c) return true;
    return false;
}

static bool is_multiplier(uint32_t c)
{
    return c == 0x5341 || c == 0x767E || c == 0x5343 || c == 0x4E07 || c == 0x5104 ||
           c == 0x5146; /* 十百千万億兆 */
}

static bool in_list(const char *s, size_t n, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == n && !memcmp(*list, s, n)) return true;
    return false;
}

/* True when the ASCII word s[0..n) is w, letters compared without case. */
static bool eq_nocase(const char *s, size_t n, const char *w)
{
    if (strlen(w) != n) return false;
    for (size_t k = 0; k < n; k++) {
        char a = s[k] >= 'A' && s[k] <= 'Z' ? (char)(s[k] + 32) : s[k];
        char b = w[k] >= 'A' && w[k] <= 'Z' ? (char)(w[k] + 32) : w[k];
        if (a != b) return false;
    }
    return true;
}

static bool in_list_nocase(const char *s, size_t n, const char *const *list)
{
    for (; *list; list++)
        if (eq_nocase(s, n, *list)) return true;
    return false;
}

/* True when s[0..n) ends with one of `list`. */
static bool ends_with_any(const char *s, size_t n, const char *const *list)
{
    for (; *list; list++) {
        size_t k = strlen(*list);
        if (k <= n && !memcmp(s + n - k, *list, k)) return true;
    }
    return false;
}

/* ---- word lists ------------------------------------------------------------------------- */

/* Japanese counters written right after a number. rank orders a 年月日時分秒 chain (0: not part
 * of one); date says when the span is a date. */
enum { D_NEVER, D_YEAR, D_ALWAYS, D_MONTH };
typedef struct unit {
    const char *s;
    unsigned char rank, date;
} unit;

static const unit chain_units[] = {
    {"年", 1, D_YEAR},    {"年度", 1, D_YEAR},  {"年代", 0, D_ALWAYS}, {"ヶ月", 2, D_NEVER},
    {"か月", 2, D_NEVER}, {"カ月", 2, D_NEVER}, {"ヵ月", 2, D_NEVER},  {"ケ月", 2, D_NEVER},
    {"箇月", 2, D_NEVER}, {"月", 2, D_MONTH},   {"日", 3, D_NEVER},    {"日間", 3, D_NEVER},
    {"時", 4, D_NEVER},   {"時間", 4, D_NEVER}, {"分", 5, D_NEVER},    {"分間", 5, D_NEVER},
    {"秒", 6, D_NEVER},   {"秒間", 6, D_NEVER}, {"世紀", 0, D_ALWAYS},
};

/* Counters of no chain: 人, 円, 階 ... */
static const char *const ja_counters[] = {
    "年間", "年前", "年後", "週",   "週間", "歳", "才", "人",   "名",   "個",   "件",   "回",
    "度",   "倍",   "割",   "円",   "元",   "階", "位", "番",   "号",   "本",   "枚",   "台",
    "冊",   "匹",   "頭",   "羽",   "軒",   "社", "校", "店",   "店舗", "点",   "票",   "条",
    "種",   "種類", "隻",   "機",   "基",   "棟", "戸", "世帯", "坪",   "畳",   "か国", "カ国",
    "ヶ国", "ヵ国", "か所", "カ所", "ヶ所", "％", "℃",  "光年", "丁目", "番地", "代",   NULL};
/* Units written in katakana: メートル, ドル ... */
static const char *const ja_measures[] = {"ドル",         "ユーロ",       "ポンド",
                                          "ウォン",       "キロ",         "キロメートル",
                                          "メートル",     "センチ",       "センチメートル",
                                          "ミリ",         "ミリメートル", "グラム",
                                          "キログラム",   "トン",         "リットル",
                                          "ミリリットル", "平方メートル", "平方キロメートル",
                                          "ヘクタール",   "マイル",       "フィート",
                                          "インチ",       "ヤード",       "バイト",
                                          "キロバイト",   "メガバイト",   "ギガバイト",
                                          "テラバイト",   "ワット",       "キロワット",
                                          "ボルト",       "ヘルツ",       "カロリー",
                                          "キロカロリー", "パーセント",   NULL};

/* Units written after a number with an optional space; a unit ending in a letter or digit
 * must not be followed by one. */
static const char *const latin_units[] = {
    "km/h", "km2", "m2",  "km",  "cm",  "mm", "nm", "m",  "kg",  "mg",   "g",    "t",
    "mL",   "ml",  "L",   "kWh", "kW",  "MW", "GW", "W",  "V",   "mAh",  "Hz",   "kHz",
    "MHz",  "GHz", "KB",  "kB",  "MB",  "GB", "TB", "PB", "bps", "Mbps", "Gbps", "fps",
    "px",   "dB",  "ppm", "ha",  "mph", "ft", "mi", "lb", "lbs", "oz",   "kcal", NULL};
/* Unit words: meters, percent, people ... */
static const char *const unit_words[] = {"percent",      "per cent",    "meter",
                                         "meters",       "metre",       "metres",
                                         "kilometer",    "kilometers",  "kilometre",
                                         "kilometres",   "centimeters", "centimetres",
                                         "millimeters",  "millimetres", "mile",
                                         "miles",        "foot",        "feet",
                                         "inch",         "inches",      "yards",
                                         "kilogram",     "kilograms",   "gram",
                                         "grams",        "pounds",      "tons",
                                         "tonnes",       "liter",       "liters",
                                         "litre",        "litres",      "degree",
                                         "degrees",      "year",        "years",
                                         "month",        "months",      "week",
                                         "weeks",        "day",         "days",
                                         "hour",         "hours",       "minute",
                                         "minutes",      "second",      "seconds",
                                         "people",       "persons",     "inhabitants",
                                         "residents",    "employees",   "students",
                                         "members",      "species",     "dollars",
                                         "euros",        "yen",         "calories",
                                         "acres",        "hectares",    "square kilometers",
                                         "square miles", "floors",      "storeys",
                                         "stories",      "votes",       "copies",
                                         "countries",    "languages",   "medals",
                                         "light-years",  "light years", "cent",
                                         "cents",        NULL};
/* Symbols, in a list of their own for the formatter: % ‰ °C km² ... */
static const char *const unit_symbols[] = {"%",   "‰",  "°C", "°F", "°",
                                           "km²", "m²", "m³", "μm", NULL};
/* The same for eras: a number with them is a date (300 BC). */
static const char *const latin_date_units[] = {"BC", "BCE", "AD", "CE", NULL};

static const char *const magnitudes[] = {"hundred", "thousand", "million",
                                         "billion", "trillion", NULL};

static const char *const months[][3] = {
    {"January", "Jan", NULL}, {"February", "Feb", NULL}, {"March", "Mar", NULL},
    {"April", "Apr", NULL},   {"May", NULL, NULL},       {"June", "Jun", NULL},
    {"July", "Jul", NULL},    {"August", "Aug", NULL},   {"September", "Sep", "Sept"},
    {"October", "Oct", NULL}, {"November", "Nov", NULL}, {"December", "Dec", NULL},
};

static const char *const weekdays[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                       "Friday", "Saturday", "Sunday",    NULL};

/* Capitalised words that start a sentence without naming anything. */
static const char *const function_words[] = {
    "The",       "A",         "An",        "This",         "That",        "These",     "Those",
    "It",        "Its",       "In",        "On",           "At",          "For",       "From",
    "To",        "By",        "With",      "As",           "Of",          "After",     "Before",
    "When",      "While",     "If",        "But",          "And",         "Or",        "So",
    "Yes",       "No",        "Not",       "There",        "Here",        "What",      "Which",
    "Who",       "Whom",      "Whose",     "How",          "Why",         "Where",     "Please",
    "We",        "You",       "He",        "She",          "They",        "My",        "Our",
    "Your",      "His",       "Her",       "Their",        "Each",        "Every",     "All",
    "Some",      "Many",      "Most",      "Any",          "One",         "Two",       "Three",
    "First",     "Second",    "Third",     "Finally",      "Next",        "Then",      "However",
    "Also",      "Today",     "Although",  "Because",      "Since",       "During",    "Between",
    "Other",     "Another",   "Such",      "Both",         "Let",         "Write",     "Explain",
    "Describe",  "List",      "Give",      "Make",         "Create",      "Use",       "Find",
    "Translate", "Summarize", "Summarise", "Read",         "Consider",    "Imagine",   "Compare",
    "Choose",    "Select",    "Provide",   "Tell",         "Do",          "Does",      "Did",
    "Is",        "Are",       "Was",       "Were",         "Be",          "Can",       "Could",
    "Will",      "Would",     "Should",    "Might",        "Must",        "Have",      "Has",
    "Had",       "Thank",     "Thanks",    "Hello",        "Hi",          "Dear",      "Sure",
    "Certainly", "Overall",   "Instead",   "Moreover",     "Furthermore", "Therefore", "Thus",
    "Meanwhile", "Later",     "Once",      "Only",         "Even",        "Just",      "Very",
    "More",      "Less",      "Always",    "Never",        "Often",       "Sometimes", "Usually",
    "Generally", "Typically", "Unlike",    "Like",         "Despite",     "Though",    "Unless",
    "Until",     "Over",      "Under",     "About",        "Around",      "According", "Based",
    "Following", "Below",     "Above",     "Additionally", "Likewise",    "Similarly", "Yet",
    NULL};

/* Words that label the answer's own structure; never the start of a name. */
static const char *const structure_words[] = {
    "Step",         "Task",     "Part",   "Chapter", "Section", "Figure",  "Table",
    "Example",      "Question", "Answer", "Option",  "Item",    "Note",    "Exercise",
    "Problem",      "Solution", "Case",   "Page",    "Line",    "Point",   "Rule",
    "Level",        "Phase",    "Stage",  "Round",   "Tip",     "Summary", "Conclusion",
    "Introduction", "Input",    "Output", "Result",  "Version", NULL};

/* Nationality and language adjectives: not listed as a name of their own. */
static const char *const demonyms[] = {
    "English",  "Japanese", "Chinese", "French",   "German", "Spanish", "Italian", "Korean",
    "Russian",  "American", "British", "European", "Asian",  "African", "Western", "Eastern",
    "Northern", "Southern", "Latin",   "Greek",    "Arabic", NULL};

/* Abbreviations whose dot neither ends a sentence nor a name. */
static const char *const title_abbrevs[] = {"Mr",  "Mrs", "Ms", "Dr",   "St",  "Mt", "Prof",
                                            "Jr",  "Sr",  "Ft", "Gen",  "Col", "Lt", "Sgt",
                                            "Inc", "Ltd", "Co", "Corp", NULL};
static const char *const lower_abbrevs[] = {"vs", "e.g", "i.e", "cf", "approx", "ca", "al", NULL};

/* Words after which "in" or "for" joins a name: Nobel Prize in Literature, Institute for ... */
static const char *const in_heads[] = {
    "Prize",        "Prizes",        "Award",      "Awards",   "Institute",    "Museum",
    "Center",       "Centre",        "Centers",    "Centres",  "University",   "College",
    "School",       "Bank",          "Council",    "Society",  "Association",  "Department",
    "Ministry",     "Office",        "Foundation", "Fund",     "Organization", "Organisation",
    "Championship", "Championships", "Cup",        "Festival", "Academy",      "Committee",
    "Commission",   "Agency",        "Master",     "Doctor",   "Bachelor",     NULL};

/* Particles inside a name, always joined when a capitalised word follows. */
static const char *const particles[] = {"de",  "da",  "di", "du", "del", "della", "der", "den",
                                        "van", "von", "la", "le", "bin", "ibn",   NULL};

/* What a count with つ counts when it is the answer's own structure: 理由は3つあります,
 * 3つのポイントがあります. Matched at the end of the words, so 注意点 and 利点 end in 点. */
static const char *const ja_structure_nouns[] = {
    "理由",     "方法", "ポイント", "点",       "特徴", "特長", "メリット", "デメリット", "手順",
    "ステップ", "例",   "案",       "アイデア", "質問", "問題", "項目",     "要点",       "コツ",
    "条件",     "要素", "原因",     "要因",     "対策", "段階", "選択肢",   "種類",       "タイプ",
    "パターン", "観点", "視点",     "側面",     "目的", "課題", "ルール",   "文",         "候補",
    "ヒント",   "提案", "効果",     "影響",     "役割", "意味", "長所",     "短所",       "工夫",
    "秘訣",     "こと", "もの",     "方",       NULL};
/* Words that may stand between a topic and its count: 惑星は全部で8つです. */
static const char *const ja_count_adverbs[] = {"全部で",   "合計で",   "合計", "全体で",
                                               "合わせて", "あわせて", "計",   NULL};

/* Plural nouns after a number that count the answer's own structure ("10 examples", "in 50
 * words"), or that repeat rather than count ("10 times"). */
static const char *const en_structure_plurals[] = {
    "ideas",      "examples",   "ways",      "tips",         "steps",           "reasons",
    "points",     "things",     "items",     "sentences",    "words",           "lines",
    "paragraphs", "questions",  "answers",   "options",      "pages",           "chapters",
    "sections",   "characters", "tokens",    "bullets",      "exercises",       "problems",
    "tasks",      "rows",       "columns",   "entries",      "names",           "suggestions",
    "facts",      "stanzas",    "verses",    "rules",        "hints",           "strategies",
    "methods",    "techniques", "topics",    "categories",   "keywords",        "phrases",
    "lists",      "features",   "benefits",  "advantages",   "disadvantages",   "factors",
    "elements",   "aspects",    "parts",     "stages",       "phases",          "levels",
    "rounds",     "times",      "choices",   "alternatives", "recommendations", "lessons",
    "titles",     "slogans",    "headlines", "responses",    "variations",      NULL};
/* Words ending in s that are no plural nouns: "12 was", "10 has". */
static const char *const en_not_plurals[] = {
    "was",        "has",       "does",      "as",      "its",          "this",
    "his",        "hers",      "ours",      "yours",   "theirs",       "yes",
    "thus",       "always",    "perhaps",   "besides", "whereas",      "towards",
    "afterwards", "sometimes", "downwards", "upwards", "nevertheless", NULL};
/* Words that start an object: after "101 contains" they show a verb, not a plural noun. */
static const char *const en_determiners[] = {
    "a",   "an",    "the",   "this", "that", "these", "those", "its",  "his",
    "her", "their", "our",   "my",   "your", "more",  "less",  "some", "all",
    "no",  "any",   "every", "each", "many", "much",  NULL};
/* Words before a number that make it the size of the answer's own list: "Give 12", "the
 * top 10", "the following 20". Compared without case; "here are" is matched on its own. */
static const char *const en_list_words[] = {
    "following", "these", "those",   "top",   "first",   "last",     "next",
    "give",      "list",  "write",   "name",  "provide", "suggest",  "generate",
    "create",    "make",  "choose",  "pick",  "select",  "describe", "explain",
    "find",      "use",   "include", "add",   "take",    "repeat",   "try",
    "do",        "show",  "share",   "offer", NULL};

/* ---- candidates ------------------------------------------------------------------------- */

static isynth_err push(isynth_verifier *v, size_t off, size_t len, isynth_fact_kind kind)
{
    if (len == 0) return ISYNTH_OK;
    if (v->ncand == v->candcap && ARRAY_GROW(v->cands, v->candcap, 64)) return ISYNTH_ERR_NOMEM;
    v->cands[v->ncand++] = (isynth_fact){off, len, kind};
    return ISYNTH_OK;
}

/* ---- code and URLs ---------------------------------------------------------------------- */

static size_t find_from(const char *s, size_t n, size_t i, const char *w, bool stop_at_newline)
{
    size_t k = strlen(w);
    for (; i + k <= n; i++) {
        if (stop_at_newline && s[i] == '\n') return n;
        if (!memcmp(s + i, w, k)) return i;
    }
    return n;
}

static bool url_char(unsigned char c)
{
    return c > ' ' && c < 0x80 && !strchr("<>\"'()[]{}`", c);
}

/* Marks ``` fences, `inline code` and URLs with F_CODE. */
static void mark_code(const char *s, size_t n, unsigned char *flags)
{
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        if (n - i >= 3 && !memcmp(s + i, "```", 3)) {
            size_t j = find_from(s, n, i + 3, "```", false);
            end = j < n ? j + 3 : n;
        } else if (s[i] == '`') {
            size_t j = find_from(s, n, i + 1, "`", true);
            end = j < n ? j + 1 : i + 1;
            if (j == n) {
                i++;
                continue;
            }
        } else if ((n - i >= 7 && !memcmp(s + i, "http://", 7)) ||
                   (n - i >= 8 && !memcmp(s + i, "https://", 8)) ||
                   (n - i >= 4 && !memcmp(s + i, "www.", 4) &&
                    (i == 0 || !url_char((unsigned char)s[i - 1])))) {
            end = i;
            while (end < n && url_char((unsigned char)s[end]))
                end++;
        } else {
            i++;
            continue;
        }
        for (size_t k = i; k < end; k++)
            flags[k] |= F_CODE;
        i = end;
    }
}

/* ---- numbers ---------------------------------------------------------------------------- */

typedef struct num {
    size_t end;
    unsigned long val; /* the value of plain digits */
    int ndig, nkanji;
    bool grouped, decimal, mult;
} num;

static bool plain(const num *a)
{
    return a->ndig > 0 && !a->nkanji && !a->grouped && !a->decimal && !a->mult;
}

/* A kanji numeral at i counts when MeCab tagged it 名詞,数, or anywhere after an era name. */
static bool kanji_digit_at(const scan *sc, size_t i, bool any)
{
    size_t l;
    uint32_t c = at(sc, i, &l);
    return is_kanji_numeral(c) && (any || (sc->flags[i] & F_KNUM));
}

static bool starts_number(const scan *sc, size_t i, bool any)
{
    size_t l;
    return digit_val(at(sc, i, &l)) >= 0 || kanji_digit_at(sc, i, any);
}

/* Reads the number at p: digits with ",ddd" groups and one decimal point, kanji numerals, and
 * kanji multipliers after digits. */
static bool parse_num(const scan *sc, size_t p, bool any_kanji, num *a)
{
    memset(a, 0, sizeof *a);
    size_t i = p, l;
    bool last_digit = false;
    for (;;) {
        uint32_t c = at(sc, i, &l);
        int d = digit_val(c);
        if (d >= 0) {
            a->ndig++;
            if (a->val < 100000000ul) a->val = a->val * 10 + (unsigned long)d;
            i += l;
            last_digit = true;
            continue;
        }
        if (is_kanji_numeral(c) &&
            (kanji_digit_at(sc, i, any_kanji) || (a->ndig && is_multiplier(c)))) {
            if (a->ndig)
                a->mult = true;
            else
                a->nkanji++;
            i += l;
            last_digit = false;
            continue;
        }
        if (c == ',' && last_digit && !a->decimal && !a->nkanji) {
            size_t j = i + 1, k = 0;
            while (k < 4 && j + k < sc->n && is_ascii_digit((unsigned char)sc->s[j + k]))
                k++;
            if (k == 3) {
                a->grouped = true;
                a->ndig += 3;
                for (size_t m = 0; m < 3; m++)
                    if (a->val < 100000000ul)
                        a->val = a->val * 10 + (unsigned long)(sc->s[j + m] - '0');
                i = j + 3;
                continue;
            }
        }
        if (c == '.' && last_digit && !a->decimal && !a->nkanji && i + 1 < sc->n &&
            is_ascii_digit((unsigned char)sc->s[i + 1])) {
            a->decimal = true;
            i++;
            last_digit = false;
            continue;
        }
        break;
    }
    a->end = i;
    return a->ndig > 0 || a->nkanji > 0;
}

/* Numbers glued to identifiers (GPT4, v2, COVID-19, a/1), ordinals (第3) and vague counts
 * (数百, 何人) do not start here. */
static bool number_start_ok(const scan *sc, size_t p)
{
    size_t js;
    uint32_t c = before(sc, p, &js);
    if (is_alnum(c) || c == 0x7B2C || c == 0x6570 || c == 0x4F55 || c == 0x5E7E) /* 第数何幾 */
        return false;
    if (c && c < 0x80 && strchr("-_./#@,:\\", (int)c)) {
        size_t k;
        uint32_t b = before(sc, js, &k);
        if (is_alnum(b)) return false;
    }
    return true;
}

static bool is_operator(uint32_t c)
{
    return (c < 0x80 && c && strchr("+-*/=<>^", (int)c)) || c == 0xD7 || c == 0xF7 || c == 0x2212 ||
           c == 0xFF0B || c == 0xFF1D || c == 0xFF0A || c == 0xFF0F;
}

/* True when the number [a, b) has an arithmetic operator next to it, spaces aside. */
static bool touches_operator(const scan *sc, size_t a, size_t b)
{
    size_t j = a, l;
    uint32_t c;
    for (int k = 0; k < 8; k++) {
        c = before(sc, j, &j);
        if (c != ' ') break;
    }
    if (is_operator(c)) return true;
    for (int k = 0; k < 8; k++) {
        c = at(sc, b, &l);
        if (c != ' ') break;
        b += l;
    }
    return is_operator(c);
}

/* True when no Latin letter or digit follows i. */
static bool word_ends(const scan *sc, size_t i)
{
    size_t l;
    return !is_alnum(at(sc, i, &l));
}

/* The longest Japanese counter at i; plain counters all share one entry of rank 0. */
static const unit *match_ja_unit(const scan *sc, size_t i, size_t *end)
{
    static const unit plain_counter = {"", 0, D_NEVER};
    const unit *best = NULL;
    size_t bl = 0;
    for (size_t k = 0; k < sizeof chain_units / sizeof *chain_units; k++) {
        size_t l = strlen(chain_units[k].s);
        if (l > bl && lit(sc, i, chain_units[k].s)) {
            best = &chain_units[k];
            bl = l;
        }
    }
    for (const char *const *list = ja_counters; list;
         list = list == ja_counters ? ja_measures : NULL)
        for (const char *const *c = list; *c; c++) {
            size_t l = strlen(*c);
            if (l > bl && lit(sc, i, *c)) {
                best = &plain_counter;
                bl = l;
            }
        }
    if (best) *end = i + bl;
    return best;
}

/* The longest unit of `list` at i, after an optional space. */
static size_t match_latin_list(const scan *sc, size_t i, const char *const *list)
{
    size_t bl = 0;
    for (; *list; list++) {
        size_t l = strlen(*list);
        if (l <= bl || !lit(sc, i, *list)) continue;
        unsigned char last = (unsigned char)(*list)[l - 1];
        if (last < 0x80 && is_alnum(last) && !word_ends(sc, i + l)) continue;
        bl = l;
    }
    return bl;
}

/* A Latin unit after i (and an optional space); *date when it is an era (BC, AD). */
static bool match_latin_unit(const scan *sc, size_t i, size_t *end, bool *date)
{
    static const char *const *const lists[] = {latin_units, unit_words, unit_symbols,
                                               latin_date_units};
    if (i < sc->n && sc->s[i] == '-') {
        /* 50-cent, 10-minute, 3-year-old: after a hyphen, unit words and units of two letters
         * or more (not 3-D) */
        size_t w = match_latin_list(sc, i + 1, unit_words);
        size_t u = match_latin_list(sc, i + 1, latin_units);
        if (u >= 2 && u > w) w = u;
        if (!w) return false;
        *end = i + 1 + w;
        if (lit(sc, *end, "-old") && word_ends(sc, *end + strlen("-old"))) *end += strlen("-old");
        *date = false;
        return true;
    }
    if (i < sc->n && sc->s[i] == ' ') i++;
    size_t best = 0;
    for (size_t k = 0; k < sizeof lists / sizeof *lists; k++) {
        size_t l = match_latin_list(sc, i, lists[k]);
        if (l > best) {
            best = l;
            *date = lists[k] == latin_date_units;
        }
    }
    *end = i + best;
    return best > 0;
}

static bool match_magnitude(const scan *sc, size_t i, size_t *end)
{
    if (i < sc->n && sc->s[i] == ' ') i++;
    for (const char *const *m = magnitudes; *m; m++) {
        size_t l = strlen(*m);
        if (lit(sc, i, *m) && word_ends(sc, i + l)) {
            *end = i + l;
            return true;
        }
    }
    return false;
}

/* What follows a number: a magnitude word, then a counter or unit. */
typedef struct suffix {
    size_t end;
    bool mag, unit, date_unit;
    const unit *ja;
} suffix;

static void read_suffix(const scan *sc, size_t i, suffix *sf)
{
    memset(sf, 0, sizeof *sf);
    size_t e, le;
    bool date;
    if (match_magnitude(sc, i, &e)) {
        sf->mag = true;
        i = e;
    }
    sf->end = i;
    const unit *u = match_ja_unit(sc, i, &e);
    bool lu = match_latin_unit(sc, i, &le, &date);
    if (u && (!lu || e >= le)) {
        sf->ja = u;
        sf->unit = true;
        sf->end = e;
    } else if (lu) {
        sf->unit = true;
        sf->date_unit = date;
        sf->end = le;
    }
}

/* ---- dates ------------------------------------------------------------------------------ */

static const char *const eras[] = {"明治", "大正", "昭和", "平成", "令和", NULL};

/* Counts the ASCII digits at i (up to 5). */
static size_t ascii_digits(const scan *sc, size_t i, unsigned *val)
{
    size_t k = 0;
    *val = 0;
    while (k < 5 && i + k < sc->n && is_ascii_digit((unsigned char)sc->s[i + k])) {
        *val = *val * 10 + (unsigned)(sc->s[i + k] - '0');
        k++;
    }
    return k;
}

static size_t ordinal_suffix(const scan *sc, size_t i)
{
    static const char *const sfx[] = {"st", "nd", "rd", "th", NULL};
    for (const char *const *s = sfx; *s; s++)
        if (lit(sc, i, *s) && word_ends(sc, i + 2)) return i + 2;
    return i;
}

/* A day of the month (1-31, optional st/nd/rd/th) as a whole word at i. */
static bool parse_day(const scan *sc, size_t i, size_t *end)
{
    unsigned v;
    size_t k = ascii_digits(sc, i, &v);
    if (k == 0 || k > 2 || v < 1 || v > 31) return false;
    size_t e = ordinal_suffix(sc, i + k);
    if (!word_ends(sc, e)) return false;
    *end = e;
    return true;
}

/* A year of min_digits..4 digits as a whole word at i. */
static bool parse_year(const scan *sc, size_t i, size_t min_digits, size_t *end)
{
    unsigned v;
    size_t k = ascii_digits(sc, i, &v);
    if (k < min_digits || k > 4 || !word_ends(sc, i + k)) return false;
    *end = i + k;
    return true;
}

/* A month name (full, or abbreviated with an optional dot) as a whole word at i. */
static bool match_month(const scan *sc, size_t i, size_t *end)
{
    for (size_t m = 0; m < 12; m++)
        for (size_t k = 0; k < 3 && months[m][k]; k++) {
            size_t l = strlen(months[m][k]);
            if (!lit(sc, i, months[m][k]) || !word_ends(sc, i + l)) continue;
            if (k > 0 && i + l < sc->n && sc->s[i + l] == '.') l++;
            *end = i + l;
            return true;
        }
    return false;
}

/* ", 1867" or " 1867" after a day: extends *end. */
static void year_after(const scan *sc, size_t *end)
{
    size_t r = *end, y;
    if (r < sc->n && sc->s[r] == ',') r++;
    if (r < sc->n && sc->s[r] == ' ' && parse_year(sc, r + 1, 3, &y)) *end = y;
}

/* "February 9, 1867", "Feb. 9th", "March 2024" at the month name at i. */
static bool date_month_first(const scan *sc, size_t i, size_t *end)
{
    size_t q, d;
    if (!match_month(sc, i, &q) || q >= sc->n || sc->s[q] != ' ') return false;
    if (parse_day(sc, q + 1, &d)) {
        *end = d;
        year_after(sc, end);
        return true;
    }
    return parse_year(sc, q + 1, 4, end);
}

/* "9 February 1867", "9th of February" after the day number a. */
static bool date_day_first(const scan *sc, const num *a, size_t *end)
{
    if (!plain(a) || a->ndig > 2 || a->val < 1 || a->val > 31) return false;
    size_t q = ordinal_suffix(sc, a->end);
    if (q >= sc->n || sc->s[q] != ' ') return false;
    q++;
    if (q > a->end + 1 && lit(sc, q, "of ")) q += 3;
    if (!match_month(sc, q, end)) return false;
    year_after(sc, end);
    return true;
}

/* "19th century", "3rd-century" after the number a. */
static bool century(const scan *sc, const num *a, size_t *end)
{
    if (!plain(a) || a->ndig > 2) return false;
    size_t q = ordinal_suffix(sc, a->end);
    if (q == a->end || q >= sc->n || (sc->s[q] != ' ' && sc->s[q] != '-')) return false;
    q++;
    static const char *const w[] = {"century", "centuries", NULL};
    for (const char *const *p = w; *p; p++)
        if (lit(sc, q, *p) && word_ends(sc, q + strlen(*p))) {
            *end = q + strlen(*p);
            return true;
        }
    return false;
}

/* "2024-05-01", "2024/5/1" after the four digits a. */
static bool iso_date(const scan *sc, const num *a, size_t *end)
{
    if (!plain(a) || a->ndig != 4 || a->end >= sc->n) return false;
    char sep = sc->s[a->end];
    if (sep != '-' && sep != '/') return false;
    unsigned mo, da;
    size_t i = a->end + 1, k = ascii_digits(sc, i, &mo);
    if (k == 0 || k > 2 || mo < 1 || mo > 12 || i + k >= sc->n || sc->s[i + k] != sep) return false;
    i += k + 1;
    k = ascii_digits(sc, i, &da);
    if (k == 0 || k > 2 || da < 1 || da > 31 || !word_ends(sc, i + k)) return false;
    *end = i + k;
    return true;
}

/* Joins the 月, 日, 時, 分, 秒 parts that follow a part of `rank` ending at q ("1867年" +
 * "2月9日"); returns the new end. *month is set when a 月 part joined. */
static size_t extend_chain(const scan *sc, size_t q, unsigned rank, bool any_kanji, bool *month)
{
    for (;;) {
        num b;
        size_t e;
        if (!starts_number(sc, q, any_kanji) || !parse_num(sc, q, any_kanji, &b) || b.grouped ||
            b.decimal)
            return q;
        const unit *u = match_ja_unit(sc, b.end, &e);
        if (!u || u->rank <= rank) return q;
        if (u->date == D_MONTH) *month = true;
        rank = u->rank;
        q = e;
    }
}

/* 明治元年, 平成三十一年, 昭和20年8月15日 at i. */
static bool try_era(const scan *sc, size_t i, isynth_fact *out)
{
    for (const char *const *e = eras; *e; e++) {
        if (!lit(sc, i, *e)) continue;
        size_t p = i + strlen(*e), q;
        num a;
        if (lit(sc, p, "元"))
            q = p + strlen("元");
        else if (starts_number(sc, p, true) && parse_num(sc, p, true, &a) && !a.grouped &&
                 !a.decimal)
            q = a.end;
        else
            return false;
        if (!lit(sc, q, "年")) return false;
        bool month = false;
        q = extend_chain(sc, q + strlen("年"), 1, true, &month);
        *out = (isynth_fact){i, q - i, ISYNTH_FACT_DATE};
        return true;
    }
    return false;
}

/* ---- the number rule -------------------------------------------------------------------- */

static bool is_range_char(uint32_t c)
{
    return c == 0x301C || c == 0xFF5E || c == '~' || c == 0x2013 || c == 0x2014 || c == '-';
}

static bool is_currency(uint32_t c)
{
    return c == '$' || c == 0xA5 || c == 0xFFE5 || c == 0x20AC || c == 0xA3; /* $ ¥ ￥ € £ */
}

/* ---- counts with つ, and English counts of things ---------------------------------------- */

/* A predicate after a count: です, だ, ある, 存在, or the end of the sentence (8つです。). */
static bool count_predicate(const scan *sc, size_t q)
{
    static const char *const preds[] = {"です", "でした", "である", "だ", "あり", "ある",
                                        "あっ", "存在",   "。",     "\n", NULL};
    if (q >= sc->n) return true;
    if (lit(sc, q, "だけ") || lit(sc, q, "あるいは")) return false;
    for (const char *const *w = preds; *w; w++)
        if (lit(sc, q, *w)) return true;
    return false;
}

/* What stands before the count at i: a sentence start (8つです。), or a topic or subject
 * particle (は が も) after a word that is not in ja_structure_nouns (惑星は8つあります, not
 * 理由は3つあります); a 、 and 全部で aside. */
static bool count_context(const scan *sc, size_t i)
{
    size_t j = i, k;
    uint32_t c = before(sc, j, &k);
    while (c == ' ' || c == 0x3000 || c == 0x300C || c == '*') { /* 「 */
        j = k;
        c = before(sc, j, &k);
    }
    if (c == 0x3001) { /* 、 */
        j = k;
        c = before(sc, j, &k);
    }
    for (const char *const *w = ja_count_adverbs; *w; w++)
        if (j >= strlen(*w) && lit(sc, j - strlen(*w), *w)) {
            j -= strlen(*w);
            c = before(sc, j, &k);
            break;
        }
    if (c == 0 || c == '\n' || c == 0x3002 || c == 0xFF01 || c == 0xFF1F || c == '!' || c == '?' ||
        c == ':' || c == 0xFF1A) /* 。！？： */
        return true;
    if (c != 0x306F && c != 0x304C && c != 0x3082) /* は が も */
        return false;
    size_t pk;
    uint32_t pc = before(sc, k, &pk);
    return pc && pc != '\n' && pc != 0x3002 && !ends_with_any(sc->s, k, ja_structure_nouns);
}

/* 8つの惑星があります at the の after a count: a noun that is not in ja_structure_nouns, then
 * が, は or も and ある or 存在. */
static bool count_of_noun(const scan *sc, size_t q)
{
    if (!lit(sc, q, "の")) return false;
    size_t j = q + strlen("の"), start = j, l;
    for (int nch = 0; nch < 8; nch++) {
        ja_script s = ja_script_of(at(sc, j, &l));
        if (s != JA_KANJI && s != JA_KATAKANA) break;
        j += l;
    }
    if (j == start || ends_with_any(sc->s, j, ja_structure_nouns)) return false;
    if (!lit(sc, j, "が") && !lit(sc, j, "は") && !lit(sc, j, "も")) return false;
    j += strlen("が");
    return lit(sc, j, "あり") || (lit(sc, j, "ある") && !lit(sc, j, "あるいは")) ||
           lit(sc, j, "あっ") || lit(sc, j, "存在");
}

/* True when the sentence from q introduces a list of its own: it ends with a colon (3つあり
 * ます：), or the next sentence or line starts one (1つ目は, まず, 第一に, 1., ・, -). */
static bool introduces_list(const scan *sc, size_t q)
{
    static const char *const starts[] = {"1つ目", "１つ目", "一つ目", "ひとつ目", "第一", "まず",
                                         "1.",    "1)",     "1）",    "１.",      "１）", "・",
                                         "- ",    "* ",     "①",      NULL};
    size_t j = q, l;
    for (int k = 0; k < 64; k++, j += l) {
        uint32_t c = at(sc, j, &l);
        if (c == 0 || c == 0x3002 || c == '\n') break;
        if (c == ':' || c == 0xFF1A) return true;
    }
    for (uint32_t c = at(sc, j, &l); c == 0x3002 || c == '\n' || c == ' ' || c == 0x3000;
         c = at(sc, j, &l))
        j += l;
    for (const char *const *w = starts; *w; w++)
        if (lit(sc, j, *w)) return true;
    return false;
}

/* A count with つ that is an answer (8つです, 惑星は8つあります, 8つの惑星がある) and opens no
 * list: one or two digits, or one kanji numeral 一 to 九 (IPAdic reads 八つ as one common noun),
 * then つ. */
static bool try_count(const scan *sc, size_t i, isynth_fact *out)
{
    size_t l, p = i;
    uint32_t c = at(sc, i, &l);
    if (digit_val(c) >= 0) {
        if (!number_start_ok(sc, i)) return false;
        for (int k = 0; k < 2 && digit_val(at(sc, p, &l)) >= 0; k++)
            p += l;
        if (digit_val(at(sc, p, &l)) >= 0) return false;
    } else if (is_kanji_numeral(c) && !is_multiplier(c) && c != 0x3007) { /* not 〇 */
        size_t k;
        uint32_t b = before(sc, i, &k);
        if (is_kanji_numeral(b) || b == 0x7B2C || b == 0x6570 || b == 0x4F55) /* 第数何 */
            return false;
        p = i + l;
    } else {
        return false;
    }
    if (!lit(sc, p, "つ")) return false;
    size_t q = p + strlen("つ");
    if (lit(sc, q, "目")) return false; /* 1つ目 */
    if ((!(count_context(sc, i) && count_predicate(sc, q)) && !count_of_noun(sc, q)) ||
        introduces_list(sc, q))
        return false;
    *out = (isynth_fact){i, q - i, ISYNTH_FACT_NUMBER};
    return true;
}

/* The word that ends at i (one space before i aside), apostrophes in (Here's), as
 * [*ws, *we); false when there is none. */
static bool word_before(const scan *sc, size_t i, size_t *ws, size_t *we)
{
    if (i == 0 || sc->s[i - 1] != ' ') return false;
    size_t j = i - 1, k;
    *we = j;
    for (int n = 0; n < 24; n++) {
        uint32_t c = before(sc, j, &k);
        if (!(c < 0x80 && is_latin(c)) && c != '\'' && c != 0x2019) break;
        j = k;
    }
    *ws = j;
    return j < *we;
}

/* "306 bones", "1,000 islands" in English text: a number of two digits or more, or with
 * groups, then a lower-case plural noun that is not in en_structure_plurals, after no label
 * ("Step 12", "Windows 10 uses") and no word of a list (en_list_words, "here are").
 * *end is the end of the noun. */
static bool count_noun(const scan *sc, size_t i, const num *a, size_t *end)
{
    if (sc->lang != ISYNTH_LANG_EN || a->decimal || a->nkanji || a->mult ||
        (!a->grouped && a->ndig < 2) || a->end >= sc->n || sc->s[a->end] != ' ' ||
        touches_operator(sc, i, a->end))
        return false;
    size_t s = a->end + 1, e = s;
    while (e < sc->n && sc->s[e] >= 'a' && sc->s[e] <= 'z' && e - s < 24)
        e++;
    size_t n = e - s;
    const char *w = sc->s + s;
    if (n < 3 || !word_ends(sc, e) || w[n - 1] != 's' || w[n - 2] == 's' || w[n - 2] == 'u' ||
        w[n - 2] == 'i' || in_list(w, n, en_not_plurals) || in_list(w, n, en_structure_plurals))
        return false;
    size_t ws, we, ws2, we2, l;
    if (word_before(sc, i, &ws, &we)) {
        const char *pw = sc->s + ws;
        size_t pn = we - ws;
        bool cap = false;
        for (size_t k = 0; k < pn; k++)
            cap |= pw[k] >= 'A' && pw[k] <= 'Z';
        if ((cap && !in_list(pw, pn, function_words)) || in_list_nocase(pw, pn, en_list_words) ||
            in_list_nocase(pw, pn, structure_words))
            return false;
        if ((eq_nocase(pw, pn, "are") && word_before(sc, ws, &ws2, &we2) &&
             eq_nocase(sc->s + ws2, we2 - ws2, "here")) ||
            eq_nocase(pw, pn, "here's") || eq_nocase(pw, pn, "here’s"))
            return false;
    }
    /* a verb, not a plural, takes an object: "Room 101 contains 12 chairs" */
    size_t o = e + 1, oe = o;
    while (oe < sc->n && sc->s[oe] >= 'a' && sc->s[oe] <= 'z' && oe - o < 8)
        oe++;
    if (e < sc->n && sc->s[e] == ' ' &&
        (in_list(sc->s + o, oe - o, en_determiners) || (oe == o && digit_val(at(sc, o, &l)) >= 0)))
        return false;
    *end = e;
    return true;
}

/* A number fact starting at i. On false, *skip is how many bytes the caller must step over
 * so that nothing is found inside a rejected number (0 when there is no number at i). */
static bool try_number(const scan *sc, size_t i, isynth_fact *out, size_t *skip)
{
    *skip = 0;
    if (try_count(sc, i, out)) {
        *skip = out->len;
        return true;
    }
    size_t l, p = i;
    uint32_t c = at(sc, i, &l);
    bool currency = false;
    static const char *const prefixes[] = {"約", "西暦", "紀元前", NULL};
    for (const char *const *pf = prefixes; *pf && p == i; pf++)
        if (lit(sc, i, *pf)) p = i + strlen(*pf);
    bool ordinal = p == i && lit(sc, i, "第");
    if (ordinal) p = i + strlen("第");
    bool sign = false;
    if (p == i && is_currency(c)) {
        p = i + l;
        currency = true;
    } else if (p == i && (c == '-' || c == 0x2212) && i + l < sc->n &&
               is_ascii_digit((unsigned char)sc->s[i + l]) && number_start_ok(sc, i)) {
        p = i + l; /* -5度: the sign counts only with a unit */
        sign = true;
    }
    if (!starts_number(sc, p, false)) return false;
    num a;
    parse_num(sc, p, false, &a);
    *skip = a.end - i;
    if ((p == i || sign) && !number_start_ok(sc, i)) return false;
    if (ordinal) { /* 第3代 counts reigns or generations; 第3章 and 第3代目 stay ordinals */
        size_t e = a.end + strlen("代");
        if (!lit(sc, a.end, "代") || lit(sc, e, "目")) return false;
        *out = (isynth_fact){i, e - i, ISYNTH_FACT_NUMBER};
        *skip = e - i;
        return true;
    }

    size_t q;
    isynth_fact_kind kind = ISYNTH_FACT_NUMBER;
    if (!currency && !sign &&
        (iso_date(sc, &a, &q) || date_day_first(sc, &a, &q) || century(sc, &a, &q)))
        kind = ISYNTH_FACT_DATE;
    else {
        /* a range keeps both ends when a unit follows: 5〜10人 */
        suffix sf;
        bool range = false;
        uint32_t r = at(sc, a.end, &l);
        if (is_range_char(r) && starts_number(sc, a.end + l, false)) {
            num b;
            parse_num(sc, a.end + l, false, &b);
            read_suffix(sc, b.end, &sf);
            range = sf.unit || sf.mag;
        }
        if (!range) read_suffix(sc, a.end, &sf);
        q = sf.end;
        bool fraction = false, chained = false;
        if (sf.ja && !sf.mag && !strcmp(sf.ja->s, "分") && lit(sc, q, "の") &&
            starts_number(sc, q + strlen("の"), false)) {
            num f;
            parse_num(sc, q + strlen("の"), false, &f);
            q = f.end;
            fraction = true;
        } else if (sf.ja) {
            bool month =
                sf.ja->date == D_MONTH && (a.nkanji || (plain(&a) && a.val >= 1 && a.val <= 12));
            if (sf.ja->date == D_ALWAYS || (sf.ja->date == D_YEAR && plain(&a) && a.val >= 1000))
                kind = ISYNTH_FACT_DATE;
            if (sf.ja->rank && !range) {
                size_t e = extend_chain(sc, q, sf.ja->rank, false, &month);
                chained = e > q;
                q = e;
            }
            if (month) kind = ISYNTH_FACT_DATE;
            /* a rate, 1日3回: joined when the second part has a unit, else 1日 is just "per day" */
            if (kind == ISYNTH_FACT_NUMBER && sf.ja->rank && starts_number(sc, q, false)) {
                num b;
                suffix rs;
                parse_num(sc, q, false, &b);
                read_suffix(sc, b.end, &rs);
                if (!rs.unit) return false;
                q = rs.end;
            }
        }
        if (sf.date_unit) kind = ISYNTH_FACT_DATE;
        if (sf.unit && lit(sc, q, "目")) /* ordinals: 2番目, 3回目, 1日目 */
            return false;
        if (a.ndig == 0 && a.nkanji == 1 && !chained && !range) /* 一人, 二人, 一度 */
            return false;
        bool ok = sf.unit || sf.mag || currency || fraction;
        if (sign && !sf.unit && !sf.mag) return false;
        if (!ok && a.grouped && !touches_operator(sc, p, a.end) && word_ends(sc, a.end)) ok = true;
        if (!ok && sc->lang == ISYNTH_LANG_EN && plain(&a) && a.ndig == 4 && a.val >= 1000 &&
            a.val <= 2099 && !touches_operator(sc, p, a.end)) {
            q = a.end;
            if (q < sc->n && sc->s[q] == 's' && word_ends(sc, q + 1)) q++;
            ok = word_ends(sc, q);
            kind = ISYNTH_FACT_DATE;
        }
        size_t e;
        if (kind == ISYNTH_FACT_NUMBER && q == a.end && !currency && !sign &&
            count_noun(sc, p, &a, &e)) {
            q = e;
            ok = true;
        }
        if (!ok) return false;
    }
    *out = (isynth_fact){i, q - i, kind};
    *skip = q - i;
    return true;
}

/* 『ノルウェイの森』: the title inside, one line of at most 120 bytes. */
static bool try_title(const scan *sc, size_t i, isynth_fact *out)
{
    size_t start = i + strlen("『");
    for (size_t j = start; j < sc->n && j - start <= 120; j++) {
        if (lit(sc, j, "』")) {
            if (j == start) return false;
            *out = (isynth_fact){start, j - start, ISYNTH_FACT_NAME};
            return true;
        }
        if (sc->s[j] == '\n' || lit(sc, j, "『")) return false;
    }
    return false;
}

/* ---- Latin names ------------------------------------------------------------------------ */

typedef struct word {
    size_t start, end; /* the word as listed: a possessive 's excluded, an abbreviation's dot in */
    size_t next;       /* where reading goes on */
    bool cap, lower, possessive, dot;
} word;

static bool parse_word(const scan *sc, size_t i, word *w)
{
    memset(w, 0, sizeof *w);
    size_t l, p = i;
    uint32_t c = at(sc, i, &l);
    if (!is_latin(c)) return false;
    w->start = i;
    w->cap = is_upper(c);
    for (;;) {
        c = at(sc, p, &l);
        if (is_latin(c)) {
            w->lower |= is_lower(c);
            p += l;
            continue;
        }
        if (is_ascii_digit(c)) {
            p += l;
            continue;
        }
        if (c == '\'' || c == 0x2019 || c == '-') {
            size_t l2, l3;
            uint32_t d = at(sc, p + l, &l2);
            if (c != '-' && d == 's' && !is_alnum(at(sc, p + l + l2, &l3))) {
                w->end = p;
                w->next = p + l + l2;
                w->possessive = true;
                return true;
            }
            if (is_alnum(d)) {
                p += l;
                continue;
            }
        }
        break;
    }
    w->end = w->next = p;
    if (p < sc->n && sc->s[p] == '.' &&
        ((p - i == 1 && w->cap) || in_list(sc->s + i, p - i, title_abbrevs))) {
        p++;
        while (p + 1 < sc->n && sc->s[p] >= 'A' && sc->s[p] <= 'Z' && sc->s[p + 1] == '.')
            p += 2; /* U.S., U.K. */
        w->end = w->next = p;
        w->dot = true;
    }
    return true;
}

static bool word_is(const scan *sc, const word *w, const char *const *list)
{
    return in_list(sc->s + w->start, w->end - w->start, list);
}

static bool word_eq(const scan *sc, const word *w, const char *s)
{
    return w->end - w->start == strlen(s) && !memcmp(sc->s + w->start, s, strlen(s));
}

static bool is_month_word(const scan *sc, const word *w)
{
    size_t n = w->end - w->start;
    if (w->dot) n--;
    for (size_t m = 0; m < 12; m++)
        for (size_t k = 0; k < 3 && months[m][k]; k++)
            if (strlen(months[m][k]) == n && !memcmp(months[m][k], sc->s + w->start, n))
                return true;
    return word_is(sc, w, weekdays);
}

/* A capitalised word that may be part of a name: not "I" (I'm, I'll), a month or a weekday. */
static bool name_word(const scan *sc, const word *w)
{
    if (!w->cap || is_month_word(sc, w)) return false;
    const char *s = sc->s + w->start;
    return !(s[0] == 'I' && (w->end - w->start == 1 || s[1] == '\'' || lit(sc, w->start + 1, "’")));
}

/* True when the dot before i ends an abbreviation (Mr., Mt., e.g., an initial). */
static bool abbrev_dot(const scan *sc, size_t dot)
{
    size_t j = dot;
    while (j > 0 && dot - j < 8) {
        unsigned char c = (unsigned char)sc->s[j - 1];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.')) break;
        j--;
    }
    size_t n = dot - j;
    if (n == 1 && sc->s[j] >= 'A' && sc->s[j] <= 'Z') return true;
    return in_list(sc->s + j, n, title_abbrevs) || in_list(sc->s + j, n, lower_abbrevs);
}

/* True when i starts a sentence: at a line whose text so far has no letter (list markers,
 * headings), or after . ! ? : (not an abbreviation's dot), quotes and brackets aside. */
static bool sentence_start(const scan *sc, size_t i)
{
    size_t j = i, k;
    int steps = 0;
    bool letter = false;
    while (j > 0 && steps < 48) {
        uint32_t c = before(sc, j, &k);
        if (c == '\n') break;
        if (is_latin(c) || ja_script_of(c) != JA_NONE) {
            letter = true;
            break;
        }
        j = k;
        steps++;
    }
    if (!letter && steps < 48) return true;
    j = i;
    for (steps = 0; steps < 48; steps++) {
        if (j == 0) return true;
        uint32_t c = before(sc, j, &k);
        if (c == ' ' || c == '\t' || c == '"' || c == '\'' || c == '(' || c == '[' || c == '*' ||
            c == '_' || c == 0x201C || c == 0x2018 || c == 0x300C || c == 0x300E || c == 0x3000) {
            j = k;
            continue;
        }
        if (c == '!' || c == '?' || c == ':' || c == 0x3002 || c == 0xFF01 || c == 0xFF1F)
            return true;
        return c == '.' && !abbrev_dot(sc, k);
    }
    return false;
}

/* " 3.12" after a name, not a quantity: a version ("Python 3.12", "Windows 11"). */
static bool version_after(const scan *sc, size_t i, size_t *end)
{
    if (i >= sc->n || sc->s[i] != ' ') return false;
    unsigned v;
    size_t p = i + 1, k = ascii_digits(sc, p, &v), l;
    if (k == 0 || k > 4) return false;
    if (sc->lang == ISYNTH_LANG_EN && k == 4 && v >= 1000 && v <= 2099)
        return false; /* a year: listed as a date of its own */
    p += k;
    while (p + 1 < sc->n && sc->s[p] == '.' && is_ascii_digit((unsigned char)sc->s[p + 1])) {
        p++;
        while (p < sc->n && is_ascii_digit((unsigned char)sc->s[p]))
            p++;
    }
    uint32_t c = at(sc, p, &l);
    if (is_alnum(c) || c == '%' || is_range_char(c) ||
        (c == ',' && p + 1 < sc->n && is_ascii_digit((unsigned char)sc->s[p + 1])))
        return false;
    suffix sf;
    read_suffix(sc, p, &sf);
    if (sf.unit || sf.mag) return false;
    *end = p;
    return true;
}

#define RUN_MAX 12

/* A run of capitalised words at i. *skip covers the whole run, listed or not. */
static bool try_name(const scan *sc, size_t i, isynth_fact *out, size_t *skip)
{
    word w[RUN_MAX];
    bool join[RUN_MAX]; /* a lower-case joining word: of, de, van, in ... */
    if (!parse_word(sc, i, &w[0])) return false;
    *skip = w[0].next - i;
    if (!name_word(sc, &w[0])) return false;
    join[0] = false;
    size_t nw = 1;
    while (nw < RUN_MAX) {
        const word *last = &w[nw - 1];
        size_t p = last->next;
        word nx;
        if (last->possessive || p >= sc->n || sc->s[p] != ' ' || !parse_word(sc, p + 1, &nx)) break;
        if (nx.cap) {
            if (!name_word(sc, &nx) || (last->dot && word_is(sc, &nx, function_words))) break;
            join[nw] = false;
            w[nw++] = nx;
            continue;
        }
        /* joining words, taken only when a capitalised name word follows them */
        word jw[2], cw;
        size_t nj = 1;
        jw[0] = nx;
        if (!(word_is(sc, &nx, particles) || word_eq(sc, &nx, "of") ||
              ((word_eq(sc, &nx, "in") || word_eq(sc, &nx, "for")) && word_is(sc, last, in_heads))))
            break;
        size_t q = nx.next;
        if (word_eq(sc, &nx, "of") && q < sc->n && sc->s[q] == ' ' &&
            parse_word(sc, q + 1, &jw[1]) && word_eq(sc, &jw[1], "the")) {
            nj = 2;
            q = jw[1].next;
        }
        if (q >= sc->n || sc->s[q] != ' ' || !parse_word(sc, q + 1, &cw) || !name_word(sc, &cw) ||
            nw + nj + 1 > RUN_MAX)
            break;
        for (size_t k = 0; k < nj; k++) {
            join[nw] = true;
            w[nw++] = jw[k];
        }
        join[nw] = false;
        w[nw++] = cw;
    }
    *skip = w[nw - 1].next - i;

    bool initial = sentence_start(sc, i);
    size_t k = 0;
    while (k < nw && (join[k] || word_is(sc, &w[k], structure_words) ||
                      (initial && word_is(sc, &w[k], function_words))))
        k++;
    if (k == nw) return false;
    size_t words = 0;
    bool lower = false;
    for (size_t j = k; j < nw; j++) {
        words += !join[j];
        lower |= !join[j] && w[j].lower;
    }
    if (!lower) return false; /* API, NASA, IMPORTANT NOTE, U.S. */
    size_t end = w[nw - 1].end, vend;
    if (!w[nw - 1].possessive && !w[nw - 1].dot && version_after(sc, end, &vend)) {
        end = vend;
        words++;
    }
    if (sc->lang == ISYNTH_LANG_EN && initial && k == 0 && words < 2 && !w[nw - 1].possessive)
        return false; /* "Tokyo is ...": a sentence's first word may just be capitalised */
    if (words == 1 && (word_is(sc, &w[k], demonyms) || word_is(sc, &w[k], function_words)))
        return false; /* English, Japanese; a capitalised "The" */
    *out = (isynth_fact){w[k].start, end - w[k].start, ISYNTH_FACT_NAME};
    return true;
}

/* A Latin word starts at i: not inside a word, a number or an identifier. */
static bool latin_word_start(const scan *sc, size_t i)
{
    size_t k, k2;
    uint32_t c = before(sc, i, &k);
    if (is_alnum(c) || c == '_' || c == '@' || c == '/' || c == '\\') return false;
    if (c == '.' || c == '-' || c == '\'' || c == 0x2019) return !is_alnum(before(sc, k, &k2));
    return true;
}

/* A weekday: 月曜日, 月曜, Monday, Mondays. */
static bool try_weekday(const scan *sc, size_t i, isynth_fact *out)
{
    static const char *const ja_days[] = {"月", "火", "水", "木", "金", "土", "日", NULL};
    size_t e = i;
    for (const char *const *d = ja_days; *d && e == i; d++)
        if (lit(sc, i, *d) && lit(sc, i + strlen(*d), "曜")) {
            e = i + strlen(*d) + strlen("曜");
            if (lit(sc, e, "日")) e += strlen("日");
        }
    for (const char *const *d = weekdays; *d && e == i; d++) {
        size_t k = i + strlen(*d);
        if (!lit(sc, i, *d) || !latin_word_start(sc, i)) continue;
        if (k < sc->n && sc->s[k] == 's') k++;
        if (word_ends(sc, k)) e = k;
    }
    if (e == i) return false;
    *out = (isynth_fact){i, e - i, ISYNTH_FACT_DATE};
    return true;
}

/* ---- the scanner ------------------------------------------------------------------------ */

static isynth_err scan_text(scan *sc)
{
    isynth_err rc = ISYNTH_OK;
    size_t i = 0;
    while (i < sc->n && !rc) {
        size_t l, skip = 0, e;
        uint32_t c = at(sc, i, &l);
        isynth_fact f;
        if (sc->flags[i] & F_CODE) {
            i += l;
            continue;
        }
        if (c == 0x300E && try_title(sc, i, &f)) {
            rc = push(sc->v, f.off, f.len, f.kind);
            i += l; /* names inside the title lose to it when overlaps are settled */
            continue;
        }
        if (try_era(sc, i, &f) || try_weekday(sc, i, &f) || try_number(sc, i, &f, &skip)) {
            rc = push(sc->v, f.off, f.len, f.kind);
            i = f.off + f.len;
            continue;
        }
        if (skip) {
            i += skip;
            continue;
        }
        if (is_latin(c) && latin_word_start(sc, i)) {
            if (date_month_first(sc, i, &e)) {
                rc = push(sc->v, i, e - i, ISYNTH_FACT_DATE);
                i = e;
                continue;
            }
            if (try_name(sc, i, &f, &skip)) rc = push(sc->v, f.off, f.len, f.kind);
            i += skip ? skip : l;
            continue;
        }
        i += l;
    }
    return rc;
}

/* ---- Japanese names with MeCab ---------------------------------------------------------- */

#ifdef ISYNTH_HAVE_MECAB
/* Suffixes that make a proper noun a modifier: 中国語, アメリカ人, 日本的. */
static const char *const modifier_suffixes[] = {"語", "人", "的", "風", "系", "流", "式",   "製",
                                                "産", "性", "化", "版", "用", "型", "語圏", NULL};
/* Common nouns that end a name after a proper noun: 江戸幕府, 東京大学, 日本銀行. */
static const char *const name_nouns[] = {
    "大学",   "大学院", "高校",   "学校",   "学院", "駅",   "空港",   "港",     "銀行",   "新聞",
    "放送",   "大戦",   "戦争",   "事件",   "革命", "条約", "宣言",   "憲法",   "幕府",   "政府",
    "時代",   "神社",   "神宮",   "寺",     "城",   "宮",   "公園",   "博物館", "美術館", "図書館",
    "動物園", "病院",   "研究所", "委員会", "協会", "財団", "鉄道",   "電鉄",   "線",     "山",
    "川",     "湖",     "島",     "半島",   "海峡", "湾",   "海",     "平野",   "山脈",   "高原",
    "賞",     "大会",   "会議",   "協定",   "省",   "庁",   "帝国",   "王国",   "共和国", "連邦",
    "橋",     "記念館", "劇場",   "球場",   "通り", "街道", "文学賞", NULL};

enum ncls { N_OTHER, N_PROPER, N_PERSON, N_SUFFIX, N_HONORIFIC, N_NOUN, N_SAHEN, N_ADJN, N_NUM };

static bool feat(const mecab_node_t *nd, const char *prefix)
{
    return nd->feature && !strncmp(nd->feature, prefix, strlen(prefix));
}

static enum ncls node_class(const mecab_node_t *nd)
{
    if (feat(nd, "名詞,固有名詞,人名,姓") || feat(nd, "名詞,固有名詞,人名,名")) return N_PERSON;
    if (feat(nd, "名詞,固有名詞,")) return N_PROPER;
    if (feat(nd, "名詞,接尾,人名")) return N_HONORIFIC;
    if (feat(nd, "名詞,接尾,一般") || feat(nd, "名詞,接尾,地域")) return N_SUFFIX;
    if (feat(nd, "名詞,一般")) return N_NOUN;
    if (feat(nd, "名詞,サ変接続")) return N_SAHEN;
    if (feat(nd, "名詞,形容動詞語幹")) return N_ADJN;
    if (feat(nd, "名詞,数")) return N_NUM;
    return N_OTHER;
}

static bool is_place(const mecab_node_t *nd)
{
    return feat(nd, "名詞,固有名詞,地域");
}

/* The node's byte span in the text; false when its surface is not inside the text. */
static bool node_span(const scan *sc, const mecab_node_t *nd, size_t *off, size_t *len)
{
    if (!nd || !nd->surface || nd->length == 0 ||
        (nd->stat != MECAB_NOR_NODE && nd->stat != MECAB_UNK_NODE))
        return false;
    uintptr_t b = (uintptr_t)sc->s, p = (uintptr_t)nd->surface;
    if (p < b || p - b > sc->n || nd->length > sc->n - (p - b)) return false;
    *off = p - b;
    *len = nd->length;
    return true;
}

static size_t count_script(const scan *sc, size_t off, size_t len, bool kata_only, size_t *n)
{
    size_t ja = 0, l;
    *n = 0;
    for (size_t i = off; i < off + len; i += l) {
        uint32_t c = at(sc, i, &l);
        if (!l) break;
        (*n)++;
        ja_script s = ja_script_of(c);
        if (kata_only ? (s == JA_KATAKANA || c == 0x30FB) : s != JA_NONE) ja++;
    }
    return ja;
}

static bool has_japanese(const scan *sc, size_t off, size_t len)
{
    size_t n;
    return count_script(sc, off, len, false, &n) > 0;
}

/* A katakana noun: a candidate part of a foreign name. */
static bool katakana_noun(const scan *sc, const mecab_node_t *nd)
{
    size_t off, len, n;
    if (!node_span(sc, nd, &off, &len) || count_script(sc, off, len, true, &n) != n) return false;
    enum ncls c = node_class(nd);
    return c == N_NOUN || c == N_PROPER || c == N_PERSON || nd->stat == MECAB_UNK_NODE;
}

static bool is_dot(const scan *sc, const mecab_node_t *nd, size_t *off)
{
    size_t len;
    return node_span(sc, nd, off, &len) && len == strlen("・") && lit(sc, *off, "・");
}

/* The katakana noun joined to `from` by a ・ on the side `dir` (+1 next, -1 previous), unless
 * both are 地域 (ロンドン・パリ is a list; ビル・ゲイツ, ロサンゼルス・ドジャース are names). */
static const mecab_node_t *dot_neighbour(const scan *sc, const mecab_node_t *from, int dir)
{
    size_t fo, fl, dotoff, o, l;
    const mecab_node_t *dot = dir > 0 ? from->next : from->prev;
    if (!node_span(sc, from, &fo, &fl) || !dot || !is_dot(sc, dot, &dotoff)) return NULL;
    const mecab_node_t *nb = dir > 0 ? dot->next : dot->prev;
    if (!nb || !node_span(sc, nb, &o, &l) || !katakana_noun(sc, nb) || !katakana_noun(sc, from))
        return NULL;
    bool glued = dir > 0 ? dotoff == fo + fl && o == dotoff + strlen("・")
                         : o + l == dotoff && dotoff + strlen("・") == fo;
    if (!glued || (is_place(from) && is_place(nb))) return NULL;
    return nb;
}

/* Planets, which IPAdic tags as common nouns (水星) or even as a family name (金星). */
static const char *const planets[] = {"水星",   "金星",   "火星",   "木星", "土星",
                                      "天王星", "海王星", "冥王星", NULL};

/* A proper noun that may start a name: Japanese script, two characters or more (日 and 米 of
 * 日米 do not), not an era name; or a planet. */
static bool name_start(const scan *sc, const mecab_node_t *nd, size_t off, size_t len)
{
    enum ncls c = node_class(nd);
    size_t nch;
    if (in_list(sc->s + off, len, planets)) return true;
    if ((c != N_PROPER && c != N_PERSON) || count_script(sc, off, len, false, &nch) == 0)
        return false;
    return nch >= 2 && !in_list(sc->s + off, len, eras);
}

/* Ends of one dictionary word that names a historical event: 大政奉還 (IPAdic: 名詞,一般). */
static const char *const event_ends[] = {"奉還", "維新", "戦争", "大戦", "事件",
                                         "革命", "条約", "改新", "置県", NULL};

static bool surface_is(const scan *sc, const mecab_node_t *nd, const char *w)
{
    size_t off, len;
    return node_span(sc, nd, &off, &len) && len == strlen(w) && !memcmp(sc->s + off, w, len);
}

static bool event_noun(const mecab_node_t *nd)
{
    enum ncls c = node_class(nd);
    return c == N_NOUN || c == N_PROPER || c == N_PERSON;
}

/* The event whose の is nd: 応仁の乱 and 本能寺の変 after any noun of two characters or more (not
 * 変 used as an adjective, 顔の変な), 関ヶ原の戦い and 壇ノ浦の合戦 after a proper noun.
 * [*off, *end) is the span. */
static bool event_of(const scan *sc, const mecab_node_t *nd, size_t *off, size_t *end)
{
    const mecab_node_t *ev = nd->next, *after;
    size_t no, nl, eo, el, o, l;
    if (!ev || !node_span(sc, nd, &no, &nl) || !node_span(sc, ev, &eo, &el) || eo != no + nl)
        return false;
    bool any = surface_is(sc, ev, "乱") || surface_is(sc, ev, "変");
    if (!any && !surface_is(sc, ev, "戦い") && !surface_is(sc, ev, "合戦")) return false;
    if ((after = ev->next) != NULL && feat(after, "助動詞")) return false;
    size_t start = no, nch = 0, n;
    bool proper = false;
    int k = 0;
    for (const mecab_node_t *p = nd->prev; p && k < 3 && event_noun(p); p = p->prev, k++) {
        if (!node_span(sc, p, &o, &l) || o + l != start || count_script(sc, o, l, false, &n) != n)
            break;
        proper |= node_class(p) != N_NOUN;
        nch += n;
        start = o;
    }
    if (nch < 2 || (!any && !proper)) return false;
    *off = start;
    *end = eo + el;
    return true;
}

/* Pushes historical events: one word ending in event_ends (大政奉還, of four characters or more:
 * not 戦争 alone), and the events of event_of. */
static isynth_err event_pass(scan *sc, const mecab_node_t *first)
{
    isynth_err rc = ISYNTH_OK;
    size_t off, len, end, n;
    for (const mecab_node_t *nd = first; nd && !rc; nd = nd->next) {
        if (!node_span(sc, nd, &off, &len)) continue;
        if (node_class(nd) == N_NOUN && count_script(sc, off, len, false, &n) == n && n >= 4 &&
            ends_with_any(sc->s + off, len, event_ends))
            rc = push(sc->v, off, len, ISYNTH_FACT_NAME);
        else if (surface_is(sc, nd, "の") && event_of(sc, nd, &off, &end))
            rc = push(sc->v, off, end - off, ISYNTH_FACT_NAME);
    }
    return rc;
}

/* Marks kanji numerals and pushes Japanese proper-noun spans. */
static isynth_err mecab_pass(scan *sc, mecab_t *m, unsigned char *flags, isynth_error *err)
{
    const mecab_node_t *first = mecab_sparse_tonode2(m, sc->s, sc->n);
    if (!first)
        return isynth_error_set(err, ISYNTH_ERR_MODEL, "verify: MeCab failed: %s",
                                mecab_strerror(m));
    size_t off, len;
    for (const mecab_node_t *nd = first; nd; nd = nd->next)
        if (node_span(sc, nd, &off, &len) && node_class(nd) == N_NUM)
            for (size_t k = off; k < off + len; k++)
                flags[k] |= F_KNUM;
    size_t done = 0;
    for (const mecab_node_t *nd = first; nd; nd = nd->next) {
        if (!node_span(sc, nd, &off, &len) || off < done || !name_start(sc, nd, off, len)) continue;
        size_t start = off, end = off + len, good = end;
        bool person = node_class(nd) == N_PERSON, modifier = false;
        int pending = 0;
        const mecab_node_t *last = nd;
        while (pending < 4) {
            const mecab_node_t *q = last->next, *nb;
            size_t qo, ql;
            if (pending == 0 && (nb = dot_neighbour(sc, last, 1)) != NULL) {
                node_span(sc, nb, &qo, &ql);
                last = nb;
                end = good = qo + ql;
                continue;
            }
            if (!q || !node_span(sc, q, &qo, &ql) || qo != end || !has_japanese(sc, qo, ql)) break;
            enum ncls qc = node_class(q);
            bool ok;
            if (qc == N_PROPER || qc == N_PERSON) {
                ok = true;
                person = qc == N_PERSON;
            } else if (katakana_noun(sc, q)) {
                ok = true;
            } else if (qc == N_SUFFIX) {
                if (in_list(sc->s + qo, ql, modifier_suffixes)) {
                    modifier = end == good;
                    break;
                }
                ok = true;
                person = false;
            } else if ((qc == N_NOUN || qc == N_SAHEN || qc == N_ADJN) && !person) {
                /* IPAdic splits 物理学賞 as 物理+学賞: a noun ending in 賞 ends a name too */
                ok = in_list(sc->s + qo, ql, name_nouns) ||
                     (ql > strlen("賞") &&
                      !memcmp(sc->s + qo + ql - strlen("賞"), "賞", strlen("賞")));
            } else {
                break;
            }
            last = q;
            end = qo + ql;
            if (ok) {
                good = end;
                pending = 0;
            } else {
                pending++;
            }
        }
        if (modifier) {
            done = good;
            continue;
        }
        for (const mecab_node_t *p = nd, *nb; (nb = dot_neighbour(sc, p, -1)) != NULL; p = nb) {
            size_t o, l;
            node_span(sc, nb, &o, &l);
            if (o < done) break;
            start = o;
        }
        isynth_err rc = push(sc->v, start, good - start, ISYNTH_FACT_NAME);
        if (rc) return isynth_error_set(err, rc, "verify: out of memory");
        done = good;
    }
    isynth_err rc = event_pass(sc, first);
    return rc ? isynth_error_set(err, rc, "verify: out of memory") : ISYNTH_OK;
}
#endif

/* ---- settling and the public functions -------------------------------------------------- */

static int cmp_cand(const void *a, const void *b)
{
    const isynth_fact *x = a, *y = b;
    if (x->off != y->off) return x->off < y->off ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return (int)x->kind - (int)y->kind;
}

/* Text order, no overlaps (the earlier, then the longer span wins), no code, no duplicates. */
static void settle(isynth_verifier *v, const char *s, const unsigned char *flags)
{
    if (v->ncand == 0) return;
    qsort(v->cands, v->ncand, sizeof *v->cands, cmp_cand);
    size_t taken = 0;
    for (size_t k = 0; k < v->ncand && v->nfacts < v->p.max_facts; k++) {
        const isynth_fact *c = &v->cands[k];
        if (c->off < taken || c->len > ISYNTH_VERIFY_MAX_FACT_BYTES) continue;
        bool skip = false;
        for (size_t b = c->off; b < c->off + c->len && !skip; b++)
            skip = flags[b] & F_CODE;
        if (skip) continue;
        taken = c->off + c->len;
        for (size_t j = 0; j < v->nfacts && !skip; j++)
            skip = v->facts[j].len == c->len && !memcmp(s + v->facts[j].off, s + c->off, c->len);
        if (!skip) v->facts[v->nfacts++] = *c;
    }
}

isynth_verify_params isynth_verify_params_default(void)
{
    return (isynth_verify_params){.use_mecab = true,
                                  .max_bytes = ISYNTH_VERIFY_MAX_BYTES,
                                  .max_facts = ISYNTH_VERIFY_MAX_FACTS};
}

isynth_err isynth_verifier_new(const isynth_verify_params *params, isynth_verifier **out,
                               isynth_error *err)
{
    if (!out) return isynth_error_set(err, ISYNTH_ERR_INVALID, "verify: out is NULL");
    *out = NULL;
    isynth_verify_params p = params ? *params : isynth_verify_params_default();
    if (p.max_bytes == 0 || p.max_bytes > ISYNTH_VERIFY_MAX_BYTES_LIMIT)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "verify: max_bytes %zu is outside 1..%zu",
                                p.max_bytes, ISYNTH_VERIFY_MAX_BYTES_LIMIT);
    if (p.max_facts == 0 || p.max_facts > ISYNTH_VERIFY_MAX_FACTS_LIMIT)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "verify: max_facts %zu is outside 1..%d",
                                p.max_facts, ISYNTH_VERIFY_MAX_FACTS_LIMIT);
    isynth_verifier *v = isynth_calloc(1, sizeof *v);
    if (!v) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "verify: out of memory");
    v->p = p;
    v->facts = isynth_malloc(p.max_facts * sizeof *v->facts);
    if (!v->facts) {
        isynth_free(v);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "verify: out of memory");
    }
#ifdef ISYNTH_HAVE_MECAB
    if (p.use_mecab) v->mecab = mecab_new2(""); /* NULL without a dictionary: the rules alone */
#endif
    *out = v;
    return ISYNTH_OK;
}

void isynth_verifier_free(isynth_verifier *v)
{
    if (!v) return;
#ifdef ISYNTH_HAVE_MECAB
    if (v->mecab) mecab_destroy(v->mecab);
#endif
    isynth_free(v->cands);
    isynth_free(v->facts);
    isynth_free(v->work);
    isynth_free(v);
}

bool isynth_verifier_has_mecab(const isynth_verifier *v)
{
#ifdef ISYNTH_HAVE_MECAB
    return v && v->mecab;
#else
    (void)v;
    return false;
#endif
}

isynth_err isynth_verify_facts(isynth_verifier *v, const char *text, size_t len, isynth_lang lang,
                               const isynth_fact **facts, size_t *n, isynth_error *err)
{
    if (facts) *facts = NULL;
    if (n) *n = 0;
    if (!v || !facts || !n || (!text && len))
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "verify: NULL argument");
    if (lang != ISYNTH_LANG_EN && lang != ISYNTH_LANG_JA)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "verify: unknown language %d", (int)lang);
    v->ncand = v->nfacts = 0;
    size_t m = len < v->p.max_bytes ? len : v->p.max_bytes;
    for (int k = 0; m < len && m > 0 && k < 3 && ((unsigned char)text[m] & 0xC0) == 0x80; k++)
        m--; /* cut back to a character boundary */
    size_t bad;
    if (m && !utf8_valid(text, m, &bad))
        return isynth_error_set(err, ISYNTH_ERR_UTF8,
                                "verify: invalid UTF-8 or NUL byte at offset %zu", bad);
    if (m == 0) return ISYNTH_OK;
    if (v->workcap < 2 * m + 1) {
        if (ARRAY_RESIZE(v->work, 2 * m + 1))
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "verify: out of memory");
        v->workcap = 2 * m + 1;
    }
    /* MeCab reads its input up to a NUL whatever length it is given: every pass runs on a
     * terminated copy, whose offsets are the caller's */
    memcpy(v->work, text, m);
    v->work[m] = '\0';
    unsigned char *flags = (unsigned char *)v->work + m + 1;
    memset(flags, 0, m);
    mark_code(v->work, m, flags);
    scan sc = {v, v->work, m, flags, lang};
    isynth_err rc = ISYNTH_OK;
#ifdef ISYNTH_HAVE_MECAB
    if (lang == ISYNTH_LANG_JA && v->mecab && (rc = mecab_pass(&sc, v->mecab, flags, err)))
        return rc;
#endif
    if ((rc = scan_text(&sc))) return isynth_error_set(err, rc, "verify: out of memory");
    settle(v, v->work, flags);
    *facts = v->nfacts ? v->facts : NULL;
    *n = v->nfacts;
    return ISYNTH_OK;
}

/* isynth_verify_json's array: the most facts listed, each at most ISYNTH_VERIFY_MAX_FACT_BYTES
 * escaped to 6 bytes a byte (\u00XX), quoted, with a comma. */
#define MAX_FACTS_JSON                                                                             \
    ((size_t)ISYNTH_VERIFY_MAX_FACTS_LIMIT * (6 * ISYNTH_VERIFY_MAX_FACT_BYTES + 3) + 2)

isynth_err isynth_verify_json(isynth_verifier *v, const char *text, size_t len, isynth_lang lang,
                              char **json, isynth_error *err)
{
    if (!json) return isynth_error_set(err, ISYNTH_ERR_INVALID, "verify: json is NULL");
    *json = NULL;
    const isynth_fact *f;
    size_t n;
    isynth_err rc = isynth_verify_facts(v, text, len, lang, &f, &n, err);
    if (rc) return rc;
    buf b;
    buf_init(&b, MAX_FACTS_JSON);
    rc = buf_addc(&b, '[');
    for (size_t i = 0; i < n && !rc; i++) {
        if (i) rc = buf_addc(&b, ',');
        if (!rc) rc = buf_add_json_str(&b, text + f[i].off, f[i].len);
    }
    if (!rc) rc = buf_addc(&b, ']');
    if (!rc && !(*json = buf_take(&b))) rc = ISYNTH_ERR_NOMEM;
    buf_free(&b);
    return rc ? isynth_error_set(err, rc, "verify: out of memory") : ISYNTH_OK;
}
